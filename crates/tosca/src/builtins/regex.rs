//! A small backtracking regular expression matcher for `$matches` (§10.2.2.2.7): literals,
//! `.`, `^`, `$`, classes (`[a-z]`, `[^...]`, `\d \w \s` and their negations), groups
//! (`(...)`, `(?:...)`), alternation, and the quantifiers `* + ? {m} {m,} {m,n}` (greedy, or
//! lazy with a trailing `?`). A match may occur anywhere in the text unless anchored.
//!
//! Matching is bounded by a step budget so that a pathological pattern cannot hang a compile;
//! a pattern that runs out of budget counts as "not known" (None).

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class {
        items: Vec<ClassItem>,
        negated: bool,
    },
    Start,
    End,
    Group(Vec<Vec<Node>>),
    Repeat {
        node: Box<Node>,
        min: usize,
        max: Option<usize>,
        lazy: bool,
    },
}

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    alternatives: Vec<Vec<Node>>,
}

const BUDGET: usize = 200_000;

/// The prefix of the error of a pattern that uses a feature this matcher does not have (such
/// a pattern may be valid; only its match is not known).
pub(crate) const UNSUPPORTED: &str = "unsupported: ";

impl Regex {
    /// Compiles `pattern`, or says why it cannot.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut parser = Parser {
            chars: &chars,
            pos: 0,
        };
        let alternatives = parser.alternatives()?;
        if parser.pos < chars.len() {
            return Err(format!("unbalanced \")\" at position {}", parser.pos));
        }
        Ok(Regex { alternatives })
    }

    /// Whether the pattern matches somewhere in `text`; None when the step budget runs out.
    pub fn is_match(&self, text: &str) -> Option<bool> {
        let chars: Vec<char> = text.chars().collect();
        let mut steps = 0usize;
        for start in 0..=chars.len() {
            for alternative in &self.alternatives {
                let found = match_seq(alternative, &chars, start, &mut steps, &mut |_, _| true)?;
                if found {
                    return Some(true);
                }
            }
        }
        Some(false)
    }
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alternatives(&mut self) -> Result<Vec<Vec<Node>>, String> {
        let mut alternatives = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alternatives.push(self.sequence()?);
        }
        Ok(alternatives)
    }

    fn sequence(&mut self) -> Result<Vec<Node>, String> {
        let mut nodes = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            nodes.push(self.quantified(atom)?);
        }
        Ok(nodes)
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.peek().ok_or("unexpected end of pattern")?;
        self.pos += 1;
        Ok(match c {
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '(' => {
                if self.chars[self.pos..].starts_with(&['?', ':']) {
                    self.pos += 2;
                } else if self.peek() == Some('?') {
                    return Err(format!(
                        "{UNSUPPORTED}group syntax \"(?\" other than \"(?:\""
                    ));
                }
                let alternatives = self.alternatives()?;
                if self.peek() != Some(')') {
                    return Err("missing \")\"".to_string());
                }
                self.pos += 1;
                Node::Group(alternatives)
            }
            '[' => self.class()?,
            '\\' => self.escape()?,
            '*' | '+' | '?' => return Err(format!("nothing to repeat before \"{c}\"")),
            c => Node::Char(c),
        })
    }

    fn escape(&mut self) -> Result<Node, String> {
        let c = self.peek().ok_or("pattern ends with \"\\\"")?;
        self.pos += 1;
        if c.is_ascii_digit() || matches!(c, 'b' | 'B' | 'A' | 'z' | 'Z' | 'p' | 'P' | 'k') {
            return Err(format!("{UNSUPPORTED}the escape \"\\{c}\""));
        }
        Ok(match class_escape(c) {
            Some(item) => Node::Class {
                items: vec![item],
                negated: false,
            },
            None => Node::Char(literal_escape(c)),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let c = self.peek().ok_or("missing \"]\"")?;
            self.pos += 1;
            if c == ']' && !first {
                break;
            }
            first = false;
            let low = if c == '\\' {
                let e = self.peek().ok_or("missing \"]\"")?;
                self.pos += 1;
                if let Some(item) = class_escape(e) {
                    items.push(item);
                    continue;
                }
                literal_escape(e)
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let mut high = self.peek().ok_or("missing \"]\"")?;
                self.pos += 1;
                if high == '\\' {
                    high = literal_escape(self.peek().ok_or("missing \"]\"")?);
                    self.pos += 1;
                }
                if high < low {
                    return Err(format!("invalid range {low}-{high}"));
                }
                items.push(ClassItem::Range(low, high));
            } else {
                items.push(ClassItem::Range(low, low));
            }
        }
        Ok(Node::Class { items, negated })
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => match self.braces() {
                Some(bounds) => bounds,
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        // Past the quantifier's last character (`*`, `+`, `?` or `}`).
        self.pos += 1;
        let lazy = self.peek() == Some('?');
        if lazy {
            self.pos += 1;
        }
        if matches!(atom, Node::Start | Node::End) {
            return Err("an anchor cannot be repeated".to_string());
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            lazy,
        })
    }

    /// `{m}`, `{m,}` or `{m,n}` at the position; leaves the position on the closing brace.
    /// A `{` that does not start a quantifier is left alone (and read as a literal).
    fn braces(&mut self) -> Option<(usize, Option<usize>)> {
        let rest: String = self.chars[self.pos + 1..].iter().collect();
        let end = rest.find('}')?;
        let body = &rest[..end];
        let (min, max) = match body.split_once(',') {
            Some((a, "")) => (a.trim().parse().ok()?, None),
            Some((a, b)) => (a.trim().parse().ok()?, Some(b.trim().parse().ok()?)),
            None => {
                let n = body.trim().parse().ok()?;
                (n, Some(n))
            }
        };
        if max.is_some_and(|m| m < min) {
            return None;
        }
        self.pos += 1 + body.chars().count();
        Some((min, max))
    }
}

fn class_escape(c: char) -> Option<ClassItem> {
    Some(match c {
        'd' => ClassItem::Digit(true),
        'D' => ClassItem::Digit(false),
        'w' => ClassItem::Word(true),
        'W' => ClassItem::Word(false),
        's' => ClassItem::Space(true),
        'S' => ClassItem::Space(false),
        _ => return None,
    })
}

fn literal_escape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        c => c,
    }
}

fn class_matches(items: &[ClassItem], negated: bool, c: char) -> bool {
    let hit = items.iter().any(|item| match *item {
        ClassItem::Range(low, high) => (low..=high).contains(&c),
        ClassItem::Digit(yes) => c.is_ascii_digit() == yes,
        ClassItem::Word(yes) => (c.is_alphanumeric() || c == '_') == yes,
        ClassItem::Space(yes) => c.is_whitespace() == yes,
    });
    hit != negated
}

/// Matches `seq` at `pos`, then calls `rest` with the end position; backtracks over choices.
fn match_seq(
    seq: &[Node],
    text: &[char],
    pos: usize,
    steps: &mut usize,
    rest: &mut dyn FnMut(usize, &mut usize) -> bool,
) -> Option<bool> {
    *steps += 1;
    if *steps > BUDGET {
        return None;
    }
    let Some((first, tail)) = seq.split_first() else {
        return Some(rest(pos, steps));
    };
    match first {
        Node::Char(c) => {
            if text.get(pos) == Some(c) {
                match_seq(tail, text, pos + 1, steps, rest)
            } else {
                Some(false)
            }
        }
        Node::Any => {
            if pos < text.len() && text[pos] != '\n' {
                match_seq(tail, text, pos + 1, steps, rest)
            } else {
                Some(false)
            }
        }
        Node::Class { items, negated } => match text.get(pos) {
            Some(&c) if class_matches(items, *negated, c) => {
                match_seq(tail, text, pos + 1, steps, rest)
            }
            _ => Some(false),
        },
        Node::Start => {
            if pos == 0 {
                match_seq(tail, text, pos, steps, rest)
            } else {
                Some(false)
            }
        }
        Node::End => {
            if pos == text.len() {
                match_seq(tail, text, pos, steps, rest)
            } else {
                Some(false)
            }
        }
        Node::Group(alternatives) => {
            for alternative in alternatives {
                let mut exhausted = false;
                let found =
                    match_seq(
                        alternative,
                        text,
                        pos,
                        steps,
                        &mut |end, steps| match match_seq(tail, text, end, steps, rest) {
                            Some(found) => found,
                            None => {
                                exhausted = true;
                                false
                            }
                        },
                    )?;
                if exhausted {
                    return None;
                }
                if found {
                    return Some(true);
                }
            }
            Some(false)
        }
        Node::Repeat {
            node,
            min,
            max,
            lazy,
        } => repeat(node, *min, *max, *lazy, 0, tail, text, pos, steps, rest),
    }
}

#[allow(clippy::too_many_arguments)]
fn repeat(
    node: &Node,
    min: usize,
    max: Option<usize>,
    lazy: bool,
    count: usize,
    tail: &[Node],
    text: &[char],
    pos: usize,
    steps: &mut usize,
    rest: &mut dyn FnMut(usize, &mut usize) -> bool,
) -> Option<bool> {
    let can_stop = count >= min;
    let can_go = max.is_none_or(|m| count < m);
    let try_stop = |steps: &mut usize, rest: &mut dyn FnMut(usize, &mut usize) -> bool| {
        if can_stop {
            match_seq(tail, text, pos, steps, rest)
        } else {
            Some(false)
        }
    };
    if lazy && try_stop(steps, rest)? {
        return Some(true);
    }
    if can_go {
        let mut exhausted = false;
        let found = match_seq(
            std::slice::from_ref(node),
            text,
            pos,
            steps,
            &mut |end, steps| {
                // An empty iteration cannot make progress.
                if end == pos && count >= min {
                    return false;
                }
                match repeat(
                    node,
                    min,
                    max,
                    lazy,
                    count + 1,
                    tail,
                    text,
                    end,
                    steps,
                    rest,
                ) {
                    Some(found) => found,
                    None => {
                        exhausted = true;
                        false
                    }
                }
            },
        )?;
        if exhausted {
            return None;
        }
        if found {
            return Some(true);
        }
    }
    if !lazy {
        return try_stop(steps, rest);
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn matches(pattern: &str, text: &str) -> bool {
        Regex::new(pattern).unwrap().is_match(text).unwrap()
    }

    #[test]
    fn anchors_classes_and_quantifiers() {
        assert!(matches("^[a-zA-Z_][a-zA-Z0-9_]*$", "item_1"));
        assert!(!matches("^[a-zA-Z_][a-zA-Z0-9_]*$", "1item"));
        assert!(matches("b+", "abbc"));
        assert!(!matches("^b+$", "abbc"));
        assert!(matches("^\\d{3}-\\d{4}$", "555-1234"));
        assert!(!matches("^\\d{3}-\\d{4}$", "55-1234"));
        assert!(matches("^(ab|cd)*e?$", "abcdab"));
        assert!(matches("^[^0-9]+$", "abc"));
        assert!(matches("^a.c$", "abc"));
        assert!(matches("x{2,}", "axxx"));
        assert!(matches("^\\w+@\\w+\\.com$", "me@example.com"));
    }

    #[test]
    fn unsupported_features_are_told_apart() {
        for pattern in ["\\bword\\b", "(?=a)", "(a)\\1"] {
            let error = Regex::new(pattern).unwrap_err();
            assert!(error.starts_with(super::UNSUPPORTED), "{pattern}: {error}");
        }
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(Regex::new("(ab").is_err());
        assert!(Regex::new("*a").is_err());
        assert!(Regex::new("[z-a]").is_err());
    }

    #[test]
    fn catastrophic_patterns_run_out_of_budget() {
        let text = "a".repeat(40) + "b";
        assert_eq!(Regex::new("^(a*)*$").unwrap().is_match(&text), None);
    }
}
