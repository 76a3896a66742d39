//! `min_position` and `as_of`: every read over the views takes them, but not both at
//! once (a past view has nothing to wait for): giving both is a 422 naming
//! `query.as_of`, and both descriptions say so.

use super::schema;
use projections::Position;
use serde::Deserialize;
use utoipa::IntoParams;

/// Which state of the views a read answers from.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewAt {
    /// Wait (at most --read-wait-ms) until the views reflect this position; 503 with
    /// Retry-After if they do not; a position after the head is a 422. Not with as_of:
    /// giving both is a 422 naming query.as_of
    #[param(value_type = Option<schema::Position>, inline)]
    pub min_position: Option<Position>,
    /// The views as they were at a log position or an RFC 3339 time (not after the
    /// head). Not with min_position: giving both is a 422 naming query.as_of
    #[param(value_type = Option<schema::AsOf>, inline)]
    pub as_of: Option<String>,
}
