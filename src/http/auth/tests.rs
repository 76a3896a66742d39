use super::*;
use axum::http::HeaderValue;
use std::io::Write;

const WRITER_TOKEN: &str = "w-0123456789abcdef";
const READER_TOKEN: &str = "r-0123456789abcdef";
const ADMIN_TOKEN: &str = "a-0123456789abcdef";

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write tokens file");
    file
}

fn three_tokens() -> Tokens {
    let inline = format!(
        "reader auditor {READER_TOKEN}; writer ci-pipeline {WRITER_TOKEN}; admin ops {ADMIN_TOKEN}"
    );
    Tokens::load(None, Some(&inline)).expect("valid tokens")
}

fn bearer(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(value).expect("header value"),
    );
    headers
}

/// The error message for loading `text` as a tokens file, with the temp path
/// replaced by `FILE`.
#[track_caller]
fn file_error(text: &str) -> String {
    let file = file_with(text);
    let err = Tokens::load(Some(file.path()), None).expect_err("tokens file should be refused");
    err.to_string()
        .replace(&file.path().display().to_string(), "FILE")
}

fn sha256_hex(token: &str) -> String {
    sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn roles_are_ordered_reader_writer_admin() {
    assert!(Role::Reader < Role::Writer);
    assert!(Role::Writer < Role::Admin);
    for role in [Role::Reader, Role::Writer, Role::Admin] {
        assert_eq!(Role::parse(role.as_str()), Some(role));
        assert_eq!(role.to_string(), role.as_str());
    }
    assert_eq!(Role::parse("Admin"), None);
    assert_eq!(Role::parse("root"), None);
}

#[test]
fn a_tokens_file_with_comments_and_blank_lines_loads_every_token() {
    let text = format!(
        "# operators\n\n  writer ci-pipeline {WRITER_TOKEN}  \n\t# indented comment\nreader\tauditor\t{READER_TOKEN}\n"
    );
    let file = file_with(&text);
    let tokens = Tokens::load(Some(file.path()), None).expect("valid file");
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        tokens.names().collect::<Vec<_>>(),
        ["ci-pipeline", "auditor"]
    );
}

#[test]
fn file_and_inline_tokens_are_merged() {
    let file = file_with(&format!("writer ci {WRITER_TOKEN}\n"));
    let inline = format!("reader auditor {READER_TOKEN}\nadmin ops {ADMIN_TOKEN}");
    let tokens = Tokens::load(Some(file.path()), Some(&inline)).expect("valid tokens");
    assert_eq!(tokens.names().collect::<Vec<_>>(), ["ci", "auditor", "ops"]);
}

#[test]
fn an_unknown_role_is_refused_naming_file_and_line() {
    let text = format!("# header\nwriter ci {WRITER_TOKEN}\nroot ops {ADMIN_TOKEN}\n");
    assert_eq!(
        file_error(&text),
        "tokens file FILE line 3: unknown role \"root\" (expected reader, writer or admin)"
    );
}

#[test]
fn a_missing_field_is_refused_naming_the_field_and_line() {
    assert_eq!(
        file_error("\nwriter ci\n"),
        "tokens file FILE line 2: missing token (expected `role name token`)"
    );
    assert_eq!(
        file_error("writer\n"),
        "tokens file FILE line 1: missing name (expected `role name token`)"
    );
}

#[test]
fn a_token_with_spaces_is_refused_as_too_many_fields() {
    let err = file_error(&format!("writer ci {WRITER_TOKEN} extra\n"));
    assert!(
        err.starts_with("tokens file FILE line 1: too many fields"),
        "{err}"
    );
}

#[test]
fn a_short_token_is_refused_without_echoing_it() {
    let err = file_error("writer ci short-secret\n");
    assert_eq!(
        err,
        "tokens file FILE line 1: token is 12 characters, shorter than the minimum of 16"
    );
    assert!(!err.contains("short-secret"));
}

#[test]
fn a_duplicate_token_is_refused_naming_both_lines() {
    let text = format!("writer ci {WRITER_TOKEN}\n\nreader auditor {WRITER_TOKEN}\n");
    assert_eq!(
        file_error(&text),
        "tokens file FILE line 3: duplicate token (already defined at tokens file FILE line 1)"
    );
}

#[test]
fn a_plaintext_and_a_hashed_copy_of_one_token_are_duplicates() {
    let hashed = sha256_hex(WRITER_TOKEN);
    let text = format!("writer ci {WRITER_TOKEN}\nreader auditor sha256:{hashed}\n");
    assert!(file_error(&text).starts_with("tokens file FILE line 2: duplicate token"));
}

#[test]
fn a_duplicate_name_is_refused_naming_both_lines() {
    let text = format!("writer ci {WRITER_TOKEN}\nreader ci {READER_TOKEN}\n");
    assert_eq!(
        file_error(&text),
        "tokens file FILE line 2: duplicate name \"ci\" (already defined at tokens file FILE line 1)"
    );
}

#[test]
fn duplicates_across_file_and_inline_name_both_places() {
    let file = file_with(&format!("writer ci {WRITER_TOKEN}\n"));
    let inline = format!("reader auditor {READER_TOKEN}; reader ci {ADMIN_TOKEN}");
    let err = Tokens::load(Some(file.path()), Some(&inline)).expect_err("duplicate name");
    let message = err.to_string();
    assert!(
        message.starts_with("ALERT_LEDGER_TOKENS entry 2: duplicate name \"ci\""),
        "{message}"
    );
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn a_malformed_hash_is_refused() {
    assert_eq!(
        file_error("reader auditor sha256:abc\n"),
        "tokens file FILE line 1: hashed token must be sha256: followed by 64 hex digits"
    );
    let not_hex = "z".repeat(64);
    assert!(file_error(&format!("reader auditor sha256:{not_hex}\n")).contains("64 hex digits"));
}

#[test]
fn the_anonymous_name_is_reserved() {
    let err = file_error(&format!("admin anonymous {ADMIN_TOKEN}\n"));
    assert!(
        err.starts_with("tokens file FILE line 1: invalid name"),
        "{err}"
    );
}

#[test]
fn a_file_with_every_token_commented_out_is_refused() {
    assert_eq!(
        file_error("# writer ci w-0123456789abcdef\n\n"),
        "tokens file FILE defines no tokens"
    );
}

#[test]
fn an_unreadable_tokens_file_is_refused_naming_the_path() {
    let err = Tokens::load(Some(Path::new("/nonexistent/tokens")), None).expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("cannot read tokens file /nonexistent/tokens:"),
        "{err}"
    );
}

#[test]
fn an_empty_inline_value_means_no_tokens() {
    let tokens = Tokens::load(None, Some("  \n")).expect("empty is unset");
    assert!(tokens.is_empty());
}

#[test]
fn each_token_maps_to_its_own_principal() {
    let tokens = three_tokens();
    for (token, name, role) in [
        (READER_TOKEN, "auditor", Role::Reader),
        (WRITER_TOKEN, "ci-pipeline", Role::Writer),
        (ADMIN_TOKEN, "ops", Role::Admin),
    ] {
        let principal = tokens
            .authorize(&bearer(&format!("Bearer {token}")), Role::Reader)
            .expect("known token");
        assert_eq!(
            principal,
            Principal {
                name: name.to_owned(),
                role
            }
        );
    }
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let principal = three_tokens()
        .authorize(&bearer(&format!("bearer  {WRITER_TOKEN}")), Role::Writer)
        .expect("known token");
    assert_eq!(principal.name, "ci-pipeline");
}

#[test]
fn a_wrong_token_is_unauthorized() {
    let result = three_tokens().authorize(&bearer("Bearer w-0123456789abcdeX"), Role::Reader);
    assert!(matches!(result, Err(ApiError::Unauthorized)), "{result:?}");
}

#[test]
fn a_missing_or_malformed_header_is_unauthorized() {
    let tokens = three_tokens();
    let cases = [
        HeaderMap::new(),
        bearer(WRITER_TOKEN),
        bearer(&format!("Basic {WRITER_TOKEN}")),
        bearer("Bearer "),
        bearer(&format!("Bearer {WRITER_TOKEN} extra")),
    ];
    for headers in cases {
        let result = tokens.authorize(&headers, Role::Reader);
        assert!(
            matches!(result, Err(ApiError::Unauthorized)),
            "{headers:?}: {result:?}"
        );
    }
}

#[test]
fn two_authorization_headers_are_unauthorized() {
    let mut headers = bearer(&format!("Bearer {WRITER_TOKEN}"));
    headers.append(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {ADMIN_TOKEN}")).expect("header value"),
    );
    let result = three_tokens().authorize(&headers, Role::Reader);
    assert!(matches!(result, Err(ApiError::Unauthorized)), "{result:?}");
}

#[test]
fn a_reader_on_a_writer_route_is_forbidden_naming_the_role() {
    let result = three_tokens().authorize(&bearer(&format!("Bearer {READER_TOKEN}")), Role::Writer);
    match result {
        Err(err @ ApiError::Forbidden { needed: "writer" }) => {
            assert_eq!(err.to_string(), "this needs the writer role");
        }
        other => panic!("expected 403 needing writer, got {other:?}"),
    }
}

#[test]
fn an_admin_may_use_writer_and_reader_routes() {
    let tokens = three_tokens();
    for needed in [Role::Reader, Role::Writer, Role::Admin] {
        let principal = tokens
            .authorize_token(ADMIN_TOKEN, needed)
            .expect("admin includes every role");
        assert_eq!(principal.name, "ops");
    }
    let result = tokens.authorize_token(WRITER_TOKEN, Role::Admin);
    assert!(matches!(
        result,
        Err(ApiError::Forbidden { needed: "admin" })
    ));
}

#[test]
fn a_hashed_token_authorizes_its_plaintext() {
    let inline = format!(
        "writer ci sha256:{}",
        sha256_hex(WRITER_TOKEN).to_uppercase()
    );
    let tokens = Tokens::load(None, Some(&inline)).expect("valid hashed token");
    let principal = tokens
        .authorize_token(WRITER_TOKEN, Role::Writer)
        .expect("plaintext of the hash");
    assert_eq!(principal.name, "ci");
    let result = tokens.authorize_token(
        &format!("sha256:{}", sha256_hex(WRITER_TOKEN)),
        Role::Reader,
    );
    assert!(
        matches!(result, Err(ApiError::Unauthorized)),
        "the hash itself must not be a credential"
    );
}

#[test]
fn with_no_tokens_every_request_is_the_anonymous_admin() {
    let tokens = Tokens::load(None, None).expect("no sources");
    assert!(tokens.is_empty());
    let principal = tokens
        .authorize(&HeaderMap::new(), Role::Admin)
        .expect("auth off");
    assert_eq!(principal, Principal::anonymous());
    assert_eq!(principal.name, "anonymous");
    assert_eq!(principal.role, Role::Admin);
    let principal = tokens
        .authorize_token("anything", Role::Admin)
        .expect("auth off");
    assert_eq!(principal, Principal::anonymous());
}

#[test]
fn debug_output_shows_names_but_no_token_or_hash() {
    let tokens = three_tokens();
    let debug = format!("{tokens:?}");
    assert_eq!(
        debug,
        r#"Tokens { count: 3, names: ["auditor", "ci-pipeline", "ops"] }"#
    );
    for token in [READER_TOKEN, WRITER_TOKEN, ADMIN_TOKEN] {
        assert!(!debug.contains(token));
        assert!(!debug.contains(&sha256_hex(token)[..16]));
    }
}
