//! Tags and tag expressions. A tag is at most 120 characters of
//! `[A-Za-z0-9_@#.:-]`; an installation or registration carries at most
//! 60 (Azure docs, "Routing and tag expressions"). An expression combines
//! tags with `&&`, `||`, `!` and parentheses, and holds at most 20 tags
//! when it uses only `||`, otherwise at most 6 (same page). The built-in
//! tags `$InstallationId:{id}` and `$UserId:{id}` address an installation
//! by its id or user (written with or without the braces).

use super::error::HubError;

/// Longest tag.
pub(crate) const MAX_TAG_LEN: usize = 120;
/// Most tags per installation or registration.
pub(crate) const MAX_TAGS: usize = 60;
/// Most tags in an expression of `||` only.
const MAX_OR_TAGS: usize = 20;
/// Most tags in any other expression.
const MAX_MIXED_TAGS: usize = 6;
/// Deepest nesting of `!` and parentheses the parser follows; far beyond
/// any expression within the tag limits, and it keeps a hostile
/// `((((…` from exhausting the stack.
const MAX_DEPTH: usize = 32;

/// The built-in tag prefixes.
pub(crate) const INSTALLATION_ID: &str = "$InstallationId:";
pub(crate) const USER_ID: &str = "$UserId:";

/// Whether `tag` is a valid user tag.
pub(crate) fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@#.:-".contains(&b))
}

/// The tag an installation answers to for `prefix` and `id`.
pub(crate) fn builtin(prefix: &str, id: &str) -> String {
    format!("{prefix}{{{id}}}")
}

/// Validates a list of user tags: the service's 400 names the rule.
pub(crate) fn validate(tags: &[String], what: &str) -> Result<(), HubError> {
    if tags.len() > MAX_TAGS {
        return Err(HubError::bad_request(format!(
            "{what} validation failed: at most {MAX_TAGS} tags are allowed, {} were given.",
            tags.len()
        )));
    }
    if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
        return Err(HubError::bad_request(format!(
            "{what} validation failed: the tag {bad:?} is invalid. Tags are at most \
             {MAX_TAG_LEN} characters and may contain only alphanumeric, _, @, -, ., : and #."
        )));
    }
    Ok(())
}

/// A node of a parsed expression; children are indexes into the nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Tag(usize),
    Not(usize),
    And(usize, usize),
    Or(usize, usize),
}

/// A parsed tag expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expression {
    /// The distinct tags it names (built-ins in their braced form).
    pub(crate) tags: Vec<String>,
    nodes: Vec<Node>,
    root: usize,
}

impl Expression {
    /// Parses an expression, enforcing the service's limits.
    pub(crate) fn parse(text: &str) -> Result<Expression, HubError> {
        let invalid = |why: &str| {
            HubError::bad_request(format!("The tag expression {text:?} is invalid: {why}."))
        };
        let tokens = tokenize(text).map_err(|why| invalid(&why))?;
        if tokens.is_empty() {
            return Err(invalid("it is empty"));
        }
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            nodes: Vec::new(),
            tags: Vec::new(),
            mentions: 0,
            only_or: true,
        };
        let root = parser.or(0).map_err(|why| invalid(&why))?;
        if parser.at != tokens.len() {
            return Err(invalid("unexpected text after the expression"));
        }
        let limit = if parser.only_or {
            MAX_OR_TAGS
        } else {
            MAX_MIXED_TAGS
        };
        if parser.mentions > limit {
            return Err(HubError::bad_request(format!(
                "The tag expression {text:?} has {} tags; an expression may have at most \
                 {MAX_OR_TAGS} tags when it uses only ||, and at most {MAX_MIXED_TAGS} otherwise.",
                parser.mentions
            )));
        }
        Ok(Expression {
            tags: parser.tags,
            nodes: parser.nodes,
            root,
        })
    }

    /// Whether an entry carrying the tags `has` says it carries matches.
    pub(crate) fn matches(&self, has: &dyn Fn(&str) -> bool) -> bool {
        let values: Vec<bool> = self.tags.iter().map(|t| has(t)).collect();
        self.eval(self.root, &values)
    }

    /// Whether an entry without any tag matches (then every entry is a
    /// candidate, not only those indexed under the expression's tags).
    pub(crate) fn matches_untagged(&self) -> bool {
        self.eval(self.root, &vec![false; self.tags.len()])
    }

    fn eval(&self, node: usize, values: &[bool]) -> bool {
        match self.nodes.get(node) {
            Some(Node::Tag(i)) => values.get(*i).copied().unwrap_or(false),
            Some(Node::Not(n)) => !self.eval(*n, values),
            Some(Node::And(a, b)) => self.eval(*a, values) && self.eval(*b, values),
            Some(Node::Or(a, b)) => self.eval(*a, values) || self.eval(*b, values),
            None => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Tag(String),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' => i += 1,
            b'(' | b')' | b'!' => {
                tokens.push(match b {
                    b'(' => Token::Open,
                    b')' => Token::Close,
                    _ => Token::Not,
                });
                i += 1;
            }
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&b) {
                    return Err(format!("'{}' must be doubled", char::from(b)));
                }
                tokens.push(if b == b'&' { Token::And } else { Token::Or });
                i += 2;
            }
            _ => {
                let start = i;
                while bytes.get(i).is_some_and(|b| !b" \t()!&|".contains(b)) {
                    i += 1;
                }
                let word = text.get(start..i).unwrap_or_default();
                tokens.push(Token::Tag(normalize(word)?));
            }
        }
    }
    Ok(tokens)
}

/// A tag as written in an expression, checked; built-ins get their braces.
fn normalize(word: &str) -> Result<String, String> {
    for prefix in [INSTALLATION_ID, USER_ID] {
        if let Some(id) = word.strip_prefix(prefix) {
            let id = id
                .strip_prefix('{')
                .and_then(|i| i.strip_suffix('}'))
                .unwrap_or(id);
            if id.is_empty() || id.len() > 256 {
                return Err(format!("{word:?} names no id"));
            }
            return Ok(builtin(prefix, id));
        }
    }
    if valid_tag(word) {
        Ok(word.to_owned())
    } else {
        Err(format!(
            "{word:?} is not a tag (at most {MAX_TAG_LEN} characters of alphanumeric, _, @, -, ., : and #)"
        ))
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    nodes: Vec<Node>,
    tags: Vec<String>,
    /// Tags written, counting repeats, for the limits.
    mentions: usize,
    only_or: bool,
}

impl Parser<'_> {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self, depth: usize) -> Result<usize, String> {
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            let right = self.and(depth)?;
            left = self.push(Node::Or(left, right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<usize, String> {
        let mut left = self.unary(depth)?;
        while self.peek() == Some(&Token::And) {
            self.only_or = false;
            self.at += 1;
            let right = self.unary(depth)?;
            left = self.push(Node::And(left, right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err("it is nested too deeply".to_owned());
        }
        let token = self.peek().cloned();
        self.at += 1;
        match token {
            Some(Token::Not) => {
                self.only_or = false;
                let inner = self.unary(depth + 1)?;
                Ok(self.push(Node::Not(inner)))
            }
            Some(Token::Open) => {
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return Err("a '(' is not closed".to_owned());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Tag(tag)) => {
                self.mentions += 1;
                let index = match self.tags.iter().position(|t| *t == tag) {
                    Some(i) => i,
                    None => {
                        self.tags.push(tag);
                        self.tags.len() - 1
                    }
                };
                Ok(self.push(Node::Tag(index)))
            }
            Some(Token::Close) => Err("unexpected ')'".to_owned()),
            Some(Token::And | Token::Or) => Err("an operator lacks its left operand".to_owned()),
            None => Err("it ends where a tag is expected".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn eval(expr: &str, tags: &[&str]) -> bool {
        let e = Expression::parse(expr).unwrap();
        e.matches(&|t| tags.contains(&t))
    }

    #[test]
    fn operators_and_precedence() {
        assert!(eval("a", &["a"]));
        assert!(!eval("a", &["b"]));
        assert!(eval("a || b && c", &["a"]));
        assert!(!eval("(a || b) && c", &["a"]));
        assert!(eval("!a", &[]));
        assert!(eval("a && !b", &["a"]));
        assert!(!eval("a && !b", &["a", "b"]));
        assert!(eval("!(a||b)", &["c"]));
        assert!(eval("username:alice@x.com || from:bob#1", &["from:bob#1"]));
    }

    #[test]
    fn builtin_tags_take_braces_or_not() {
        let e = Expression::parse("$InstallationId:abc || $UserId:{u-1}").unwrap();
        assert_eq!(e.tags, vec!["$InstallationId:{abc}", "$UserId:{u-1}"]);
    }

    #[test]
    fn untagged_entries_match_only_negations() {
        assert!(Expression::parse("!a").unwrap().matches_untagged());
        assert!(!Expression::parse("a || !b && c")
            .unwrap()
            .matches_untagged());
    }

    #[test]
    fn the_documented_limits() {
        let ors: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        assert!(Expression::parse(&ors.join(" || ")).is_ok());
        let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Expression::parse(&too_many.join(" || ")).is_err());
        assert!(Expression::parse("a && b && c && d && e && f").is_ok());
        assert!(Expression::parse("a && b && c && d && e && f && g").is_err());
        assert!(Expression::parse("a || b || c || d || e || f || !g").is_err());
    }

    #[test]
    fn malformed_expressions_are_400s() {
        for bad in [
            "",
            " ",
            "a &",
            "a & b",
            "a | b",
            "(a",
            "a)",
            "&& a",
            "a b",
            "!",
            "a && (b ||)",
            "tag with spaces?",
            &"x".repeat(121),
        ] {
            let e = Expression::parse(bad).unwrap_err();
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn hostile_expressions_end_quickly() {
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(Expression::parse(&deep).is_err());
        let nots = format!("{}a", "!".repeat(100_000));
        assert!(Expression::parse(&nots).is_err());
        let wide = vec!["a"; 50_000].join(" || ");
        assert!(Expression::parse(&wide).is_err());
    }

    #[test]
    fn tag_validation_as_the_service_words_it() {
        assert!(validate(&["a:b".into(), "x_y@z.w#1-2".into()], "Installation").is_ok());
        let e = validate(&["bad tag".into()], "Installation").unwrap_err();
        assert!(e.detail.contains("alphanumeric, _, @, -, ., : and #"));
        let many: Vec<String> = (0..61).map(|i| format!("t{i}")).collect();
        assert!(validate(&many, "Installation").is_err());
    }
}
