use super::*;
use serde::Deserialize;

#[derive(Debug, Deserialize, IntoParams)]
struct Page {
    /// A count.
    limit: Option<usize>,
    /// A flag.
    pending: Option<bool>,
    /// Required.
    position: u64,
    /// Every value.
    #[serde(default, rename = "type")]
    types: Vec<String>,
}

fn field_of(err: ApiError) -> (String, String) {
    match err {
        ApiError::Validation { field, message } => (field, message),
        other => panic!("not a field error: {other:?}"),
    }
}

#[test]
fn typed_values_are_parsed_and_percent_decoded() {
    let page: Page = parse(Some("limit=5&pending=true&position=7&type=a%2Cb")).unwrap();
    assert_eq!(page.limit, Some(5));
    assert_eq!(page.pending, Some(true));
    assert_eq!(page.position, 7);
    assert_eq!(page.types, ["a,b"]);
}

#[test]
fn a_name_given_twice_keeps_its_last_value_and_a_sequence_keeps_them_all() {
    let page: Page = parse(Some("limit=5&limit=6&position=1&type=a&type=b")).unwrap();
    assert_eq!(page.limit, Some(6));
    assert_eq!(page.types, ["a", "b"]);
}

#[test]
fn an_unknown_name_is_refused_naming_it_and_listing_the_known_ones() {
    let (field, detail) = field_of(parse::<Page>(Some("position=1&colour=red")).unwrap_err());
    assert_eq!(field, "query.colour");
    assert!(
        detail.contains("limit, pending, position, type"),
        "{detail}"
    );
}

#[test]
fn a_value_of_the_wrong_type_names_its_parameter() {
    let (field, detail) = field_of(parse::<Page>(Some("position=1&limit=ten")).unwrap_err());
    assert_eq!(
        (field.as_str(), detail.as_str()),
        ("query.limit", "must be a whole number")
    );
    let (field, detail) = field_of(parse::<Page>(Some("position=1&pending=yes")).unwrap_err());
    assert_eq!(
        (field.as_str(), detail.as_str()),
        ("query.pending", "must be true or false")
    );
}

#[test]
fn a_missing_required_parameter_is_named() {
    let (field, detail) = field_of(parse::<Page>(Some("limit=1")).unwrap_err());
    assert_eq!(
        (field.as_str(), detail.as_str()),
        ("query.position", "is required")
    );
}

#[test]
fn a_shared_struct_takes_its_own_names_from_the_same_query() {
    let (page, at): (Page, ViewAt) =
        parse_with(Some("position=3&min_position=9&as_of=2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(page.position, 3);
    assert_eq!(at.min_position, Some(9));
    assert_eq!(at.as_of.as_deref(), Some("2026-01-01T00:00:00Z"));
    let (field, _) = field_of(parse::<Page>(Some("position=3&min_position=9")).unwrap_err());
    assert_eq!(field, "query.min_position");
}

#[test]
fn an_enum_matches_its_wire_names() {
    #[derive(Debug, Deserialize, IntoParams)]
    struct Read {
        /// A direction.
        #[param(value_type = Option<String>)]
        direction: Option<crate::store::Direction>,
    }
    let read: Read = parse(Some("direction=backward")).unwrap();
    assert_eq!(read.direction, Some(crate::store::Direction::Backward));
    let (field, detail) = field_of(parse::<Read>(Some("direction=up")).unwrap_err());
    assert_eq!(field, "query.direction");
    assert!(detail.contains("forward"), "{detail}");
}

#[test]
fn the_page_size_is_between_one_and_its_maximum() {
    assert_eq!(limit(None, 1000).unwrap(), 100);
    assert_eq!(limit(Some(1000), 1000).unwrap(), 1000);
    for refused in [0, 1001] {
        let (field, detail) = field_of(limit(Some(refused), 1000).unwrap_err());
        assert_eq!(
            (field.as_str(), detail.as_str()),
            ("query.limit", "must be between 1 and 1000")
        );
    }
}

#[test]
fn every_route_accepts_exactly_the_names_it_documents() {
    fn same<T: serde::de::DeserializeOwned + IntoParams>() {
        let documented: Vec<String> = documented::<T>().into_iter().map(|p| p.name).collect();
        assert_eq!(
            documented,
            field_names::<T>(),
            "{}",
            std::any::type_name::<T>()
        );
    }
    same::<ViewAt>();
    same::<crate::http::alerts::AlertsQuery>();
    same::<crate::http::reads::AlarmsQuery>();
    same::<crate::http::reads::MessagesQuery>();
    same::<crate::http::reads::StreamQuery>();
    same::<crate::http::reads::EventsQuery>();
    same::<crate::http::resources::SyncsQuery>();
    same::<crate::http::resources::TasksQuery>();
    same::<crate::http::subscribe::SubscribeQuery>();
    same::<crate::http::consumers::MemberQuery>();
    same::<crate::http::proofs::InclusionQuery>();
    same::<crate::http::proofs::ConsistencyQuery>();
}
