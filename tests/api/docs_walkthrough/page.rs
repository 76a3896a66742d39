//! The walk-through as docs/api.md writes it: the `sh` blocks of its section, cut into
//! commands and the output shown under each.

/// The section of docs/api.md that is the walk-through.
pub const SECTION: &str = "## An incident, step by step";

/// One command of the page and what the page says it prints.
#[derive(Debug)]
pub struct Step {
    /// The command as written (continuation lines and multi-line quotes included).
    pub command: String,
    /// The `# ` lines right under it, without the `# `: its output.
    pub shown: Vec<String>,
    /// Line number in docs/api.md, for messages.
    pub line: usize,
}

/// Every command of the walk-through's `sh` blocks, in page order.
///
/// In a block, a line that starts with `#` after a blank line (or at the top) is prose;
/// the `#` lines that follow a command directly are its output (`#` alone is an empty
/// line of output).
pub fn steps(page: &str) -> Vec<Step> {
    let lines: Vec<&str> = page.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == SECTION)
        .unwrap_or_else(|| panic!("docs/api.md has no `{SECTION}` section"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut steps = Vec::new();
    let mut i = start;
    while i < end {
        if lines[i].trim_end() == "```sh" {
            let close = lines[i + 1..end]
                .iter()
                .position(|l| l.trim_end() == "```")
                .map(|j| i + 1 + j)
                .unwrap_or_else(|| panic!("docs/api.md:{}: unclosed sh block", i + 1));
            block(&lines[i + 1..close], i + 2, &mut steps);
            i = close;
        }
        i += 1;
    }
    steps
}

/// The commands of one block; `first_line` is the page line number of `lines[0]`.
fn block(lines: &[&str], first_line: usize, steps: &mut Vec<Step>) {
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut command = line.to_owned();
        while !complete(&command) {
            i += 1;
            let next = lines.get(i).unwrap_or_else(|| {
                panic!(
                    "docs/api.md:{}: command never ends (open quote or trailing \\)",
                    first_line + start
                )
            });
            command.push('\n');
            command.push_str(next);
        }
        i += 1;
        let mut shown = Vec::new();
        while let Some(out) = lines.get(i).filter(|l| l.starts_with('#')) {
            shown.push(out.strip_prefix("# ").unwrap_or(&out[1..]).to_owned());
            i += 1;
        }
        steps.push(Step {
            command,
            shown,
            line: first_line + start,
        });
    }
}

/// Whether `text` is a whole shell command: no quote left open, no trailing `\`.
fn complete(text: &str) -> bool {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Single,
        Double,
    }
    let mut state = State::Plain;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (&state, c) {
            (State::Plain, '\'') => state = State::Single,
            (State::Plain, '"') => state = State::Double,
            (State::Single, '\'') | (State::Double, '"') => state = State::Plain,
            // A backslash takes the next character with it; at the end, the line goes on.
            (State::Plain | State::Double, '\\') if chars.next().is_none() => return false,
            _ => {}
        }
    }
    state == State::Plain && !text.ends_with('\\')
}

#[test]
fn a_page_splits_into_commands_with_the_output_shown_under_each() {
    let page = "# x\n\n## An incident, step by step\n\n```sh\nL=http://h\n\n# prose\ncurl -s $L \\\n  -d '{\n  \"a\": 1}'\n# {\"ok\":\n#  true}\n#\n# done\n\n# more prose\necho hi\n```\n\n## Next\n```sh\nignored\n```\n";
    let steps = steps(page);
    let commands: Vec<&str> = steps.iter().map(|s| s.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "L=http://h",
            "curl -s $L \\\n  -d '{\n  \"a\": 1}'",
            "echo hi"
        ]
    );
    assert!(steps[0].shown.is_empty());
    assert_eq!(steps[1].shown, ["{\"ok\":", " true}", "", "done"]);
    assert_eq!(steps[1].line, 9);
    assert!(steps[2].shown.is_empty());
}
