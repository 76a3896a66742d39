use super::*;

/// One parsed sample line.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses the exposition strictly: every line is `# HELP`, `# TYPE` or
/// `name{labels} value` with a float value; anything else fails the test.
#[track_caller]
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    text.lines()
        .filter(|line| !line.starts_with("# HELP ") && !line.starts_with("# TYPE "))
        .map(|line| parse_line(line).unwrap_or_else(|| panic!("malformed line: {line:?}")))
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !valid_name {
        return None;
    }
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(rest) => parse_labels(rest)?,
        None => (Vec::new(), &line[name_end..]),
    };
    let value = match rest.strip_prefix(' ')? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `key="value",...}` and returns the labels and what follows `}`.
fn parse_labels(mut rest: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => value.push(match chars.next()?.1 {
                    'n' => '\n',
                    c @ ('\\' | '"') => c,
                    _ => return None,
                }),
                (_, '\n') => return None,
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The value of the one sample named `name` whose labels include `labels`.
#[track_caller]
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .filter(|s| s.labels.len() == labels.len())
        .collect();
    assert_eq!(matching.len(), 1, "{name} {labels:?} in {samples:#?}");
    matching[0].value
}

/// The `(le, cumulative count)` buckets of one histogram series.
fn buckets(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    samples
        .iter()
        .filter(|s| s.name == format!("{name}_bucket"))
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| {
            let le = &s.labels.iter().find(|(k, _)| k == "le").expect("le").1;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("le is a float")
            };
            (le, s.value)
        })
        .collect()
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[test]
fn every_family_renders_with_help_and_type_unlabelled_ones_from_the_start() {
    let fresh = Metrics::new();
    let text = fresh.render();
    let samples = parse(&text);
    let unlabelled = [
        "alert_ledger_append_duration_seconds histogram",
        "alert_ledger_append_batch_events histogram",
        "alert_ledger_events_appended_total counter",
        "alert_ledger_store_batch_events histogram",
        "alert_ledger_view_position gauge",
        "alert_ledger_head_position gauge",
        "alert_ledger_view_lag_events gauge",
        "alert_ledger_merkle_tree_size gauge",
        "alert_ledger_view_file_set_aside gauge",
        "alert_ledger_view_file_page_check_failed gauge",
        "alert_ledger_view_file_read_errors_total counter",
        "alert_ledger_fold_errors_total counter",
        "alert_ledger_subscribers gauge",
    ];
    // A labelled family has no series (and so no lines) until its first label set.
    let labelled = [
        "alert_ledger_http_requests_total counter",
        "alert_ledger_http_request_duration_seconds histogram",
        "alert_ledger_open_alerts gauge",
        "alert_ledger_consumer_lag_positions gauge",
        "alert_ledger_consumer_members gauge",
        "alert_ledger_dispatch_attempts_total counter",
        "alert_ledger_dispatch_duration_seconds histogram",
        "alert_ledger_delivery_latency_seconds histogram",
        "alert_ledger_tasks_created_total counter",
        "alert_ledger_task_hosts_total counter",
    ];
    let has = |text: &str, family: &str| {
        let name = family.split(' ').next().expect("name");
        text.contains(&format!("# TYPE {family}\n")) && text.contains(&format!("# HELP {name} "))
    };
    for family in unlabelled {
        assert!(has(&text, family), "{family}: {text}");
    }
    assert_eq!(
        value(&samples, "alert_ledger_events_appended_total", &[]),
        0.0
    );
    assert_eq!(
        value(&samples, "alert_ledger_append_duration_seconds_count", &[]),
        0.0
    );
    fresh.observe_request("GET", "/v1/alerts", 200, ms(1));
    fresh.set_open_alerts(&[("critical", 1)]);
    fresh.set_consumers(&[("g", 1, 1)]);
    fresh.inc_dispatch("webhook", "delivered");
    fresh.observe_dispatch_duration("webhook", ms(5));
    fresh.observe_delivery_latency("webhook", ms(50));
    fresh.inc_task_created("api");
    fresh.inc_task_host("succeeded");
    let text = fresh.render();
    for family in labelled.iter().chain(&unlabelled) {
        assert!(has(&text, family), "{family}: {text}");
    }
}

#[test]
fn request_counters_increase_per_method_route_and_status() {
    let metrics = Metrics::new();
    metrics.observe_request("POST", "/v1/alerts", 201, ms(3));
    metrics.observe_request("POST", "/v1/alerts", 201, ms(4));
    metrics.observe_request("POST", "/v1/alerts", 200, ms(2));
    metrics.observe_request("GET", "/v1/alerts/{id}", 404, ms(1));
    let samples = parse(&metrics.render());
    let requests = |method, route, status| {
        value(
            &samples,
            "alert_ledger_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("POST", "/v1/alerts", "201"), 2.0);
    assert_eq!(requests("POST", "/v1/alerts", "200"), 1.0);
    assert_eq!(requests("GET", "/v1/alerts/{id}", "404"), 1.0);
    let count = value(
        &samples,
        "alert_ledger_http_request_duration_seconds_count",
        &[("method", "POST"), ("route", "/v1/alerts")],
    );
    assert_eq!(count, 3.0);
    let sum = value(
        &samples,
        "alert_ledger_http_request_duration_seconds_sum",
        &[("method", "POST"), ("route", "/v1/alerts")],
    );
    assert!((sum - 0.009).abs() < 1e-9, "{sum}");
}

#[test]
fn unknown_http_methods_are_folded_into_other() {
    let metrics = Metrics::new();
    metrics.observe_request("BREW", "/v1/alerts", 405, ms(1));
    let samples = parse(&metrics.render());
    let labels = [
        ("method", "OTHER"),
        ("route", "/v1/alerts"),
        ("status", "405"),
    ];
    assert_eq!(
        value(&samples, "alert_ledger_http_requests_total", &labels),
        1.0
    );
}

#[test]
fn histogram_buckets_are_cumulative_and_count_equals_the_inf_bucket() {
    let metrics = Metrics::new();
    for latency in [ms(0), ms(1), ms(7), ms(7), ms(300), ms(60_000)] {
        metrics.observe_append(latency, 1);
    }
    let samples = parse(&metrics.render());
    let name = "alert_ledger_append_duration_seconds";
    let buckets = buckets(&samples, name, &[]);
    assert_eq!(buckets.len(), LATENCY_BUCKETS.len() + 1);
    assert!(buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    let at = |le: f64| buckets.iter().find(|(b, _)| *b == le).expect("bucket").1;
    assert_eq!(at(0.0005), 1.0);
    assert_eq!(at(0.001), 2.0, "le is inclusive: 1 ms lands in le=0.001");
    assert_eq!(at(0.01), 4.0);
    assert_eq!(at(0.5), 5.0);
    assert_eq!(at(10.0), 5.0);
    assert_eq!(at(f64::INFINITY), 6.0);
    assert_eq!(value(&samples, &format!("{name}_count"), &[]), 6.0);
    let sum = value(&samples, &format!("{name}_sum"), &[]);
    assert!((sum - 60.315).abs() < 1e-9, "{sum}");
}

#[test]
fn appends_count_events_and_batch_sizes() {
    let metrics = Metrics::new();
    metrics.observe_append(ms(2), 3);
    metrics.observe_append(ms(2), 100);
    metrics.observe_store_batch(7);
    let samples = parse(&metrics.render());
    assert_eq!(
        value(&samples, "alert_ledger_events_appended_total", &[]),
        103.0
    );
    let batch = buckets(&samples, "alert_ledger_append_batch_events", &[]);
    assert_eq!(
        batch.iter().find(|(le, _)| *le == 4.0).expect("le=4").1,
        1.0
    );
    assert_eq!(
        batch.iter().find(|(le, _)| *le == 128.0).expect("le=128").1,
        2.0
    );
    assert_eq!(
        value(&samples, "alert_ledger_store_batch_events_count", &[]),
        1.0
    );
    assert_eq!(
        value(&samples, "alert_ledger_store_batch_events_sum", &[]),
        7.0
    );
}

#[test]
fn view_lag_is_head_minus_applied_and_never_negative() {
    let metrics = Metrics::new();
    metrics.set_head_position(120);
    metrics.set_applied_position(100);
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "alert_ledger_head_position", &[]), 120.0);
    assert_eq!(value(&samples, "alert_ledger_view_position", &[]), 100.0);
    assert_eq!(value(&samples, "alert_ledger_view_lag_events", &[]), 20.0);

    metrics.set_applied_position(130);
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "alert_ledger_view_lag_events", &[]), 0.0);
}

#[test]
fn fold_errors_and_subscribers_are_counted() {
    let metrics = Metrics::new();
    metrics.set_fold_errors(2);
    metrics.set_subscribers(5);
    metrics.inc_subscribers();
    metrics.dec_subscribers();
    metrics.dec_subscribers();
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "alert_ledger_fold_errors_total", &[]), 2.0);
    assert_eq!(value(&samples, "alert_ledger_subscribers", &[]), 4.0);
}

#[test]
fn open_alerts_keep_a_severity_at_zero_once_it_has_been_seen() {
    let metrics = Metrics::new();
    metrics.set_open_alerts(&[("critical", 2), ("warning", 5)]);
    metrics.set_open_alerts(&[("warning", 3)]);
    let samples = parse(&metrics.render());
    let open = |severity| {
        value(
            &samples,
            "alert_ledger_open_alerts",
            &[("severity", severity)],
        )
    };
    assert_eq!(open("critical"), 0.0);
    assert_eq!(open("warning"), 3.0);
}

#[test]
fn dispatch_attempts_are_counted_per_channel_and_outcome() {
    let metrics = Metrics::new();
    metrics.inc_dispatch("webhook", "delivered");
    metrics.inc_dispatch("webhook", "failed");
    metrics.inc_dispatch("webhook", "delivered");
    let samples = parse(&metrics.render());
    let labels = [("channel", "webhook"), ("outcome", "delivered")];
    assert_eq!(
        value(&samples, "alert_ledger_dispatch_attempts_total", &labels),
        2.0
    );
}

#[test]
fn label_values_are_escaped_and_round_trip() {
    let route = "/odd\\path\"with\nnewline";
    let metrics = Metrics::new();
    metrics.observe_request("GET", route, 200, ms(1));
    let text = metrics.render();
    assert!(
        text.contains(r#"route="/odd\\path\"with\nnewline""#),
        "{text}"
    );
    let samples = parse(&text);
    let labels = [("method", "GET"), ("route", route), ("status", "200")];
    assert_eq!(
        value(&samples, "alert_ledger_http_requests_total", &labels),
        1.0
    );
}

#[test]
fn openmetrics_has_the_same_samples_and_ends_with_eof() {
    let metrics = Metrics::new();
    metrics.observe_request("GET", "/v1/alerts", 200, ms(3));
    metrics.observe_append(ms(2), 5);
    let open = metrics.render_openmetrics();
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(
        open.contains("# TYPE alert_ledger_http_requests counter\n"),
        "{open}"
    );
    let body: String = open
        .lines()
        .filter(|l| *l != "# EOF")
        .map(|l| format!("{l}\n"))
        .collect();
    let classic = parse(&metrics.render());
    let samples = parse(&body);
    let labels = [
        ("method", "GET"),
        ("route", "/v1/alerts"),
        ("status", "200"),
    ];
    for name in [
        "alert_ledger_http_requests_total",
        "alert_ledger_events_appended_total",
    ] {
        let wanted: &[(&str, &str)] = if name.contains("http") { &labels } else { &[] };
        assert_eq!(
            value(&samples, name, wanted),
            value(&classic, name, wanted),
            "{name}"
        );
    }
    assert_eq!(
        buckets(&samples, "alert_ledger_append_duration_seconds", &[]),
        buckets(&classic, "alert_ledger_append_duration_seconds", &[])
    );
}
