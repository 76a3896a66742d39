//! The backend-independent conformance cases, each an `async fn(&mut impl Harness)`.

mod lifecycle;
mod reads;
mod relative;
mod subscription;
mod writes;

pub use lifecycle::*;
pub use reads::*;
pub use relative::*;
pub use subscription::*;
pub use writes::*;
