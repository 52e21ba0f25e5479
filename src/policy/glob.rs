//! Wildcard patterns (`*` any run of characters, `?` exactly one character) with policy
//! variables, compiled into segments and matched without allocation.
//!
//! Why segments: a variable becomes a `Variable` segment whose value is compared as
//! literal text at match time, so a `*`, `?` or `${...}` inside a claim can never act as
//! syntax. Why this algorithm: the pattern is split at each `*` into chunks of fixed
//! length (in chars); the first chunk is anchored at the start, the last at the end, and
//! every chunk in between is taken at its leftmost match. Taking the leftmost match is
//! always safe (any later match leaves fewer characters for the rest), so there is no
//! backtracking and the cost is O(text × pattern) at worst, whatever the number of `*`.
//! Case-sensitive chunks that start with text jump to its next occurrence with a
//! substring search rather than trying every position.

use super::variables::{Placeholder, Variable, parse_placeholder};

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text compared literally; `chars` caches its length in chars.
    Literal { text: Box<str>, chars: usize },
    /// A variable, resolved per request and compared literally.
    Variable(Variable),
    /// `?`: exactly one char (not one byte).
    OneChar,
    /// `*`: any run of chars, including `/` and the empty run.
    AnyChars,
}

/// Whether `*` and `?` are wildcards (Action, Resource, `StringLike`) or plain characters
/// (`StringEquals` and the other exact string operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    Glob,
    Template,
}

/// How literal characters compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Resources, `StringEquals`, `StringLike`.
    Sensitive,
    /// Actions and `StringEqualsIgnoreCase`: ASCII only, so no Unicode folding (e.g. the
    /// Kelvin sign `\u{212A}` → `k`) can make a look-alike action or claim match.
    AsciiInsensitive,
}

/// A compiled pattern. Invariant: no two adjacent `Literal`s and no two adjacent
/// `AnyChars`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    segments: Vec<Segment>,
    /// Whether any segment is a `Variable`, so patterns without one skip resolving.
    has_variables: bool,
}

impl Pattern {
    /// Compiles `source`. `${...}` is always a placeholder (a lone `$` is literal);
    /// an unterminated or unknown placeholder is an error.
    pub(crate) fn parse(source: &str, syntax: Syntax) -> Result<Pattern, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("${") {
                let Some(end) = after.find('}') else {
                    return Err(format!("unterminated `${{` in `{source}`"));
                };
                match parse_placeholder(&after[..end])? {
                    Placeholder::Escape(c) => literal.push(c),
                    Placeholder::Variable(variable) => {
                        flush(&mut literal, &mut segments);
                        segments.push(Segment::Variable(variable));
                    }
                }
                rest = &after[end + 1..];
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match (c, syntax) {
                ('*', Syntax::Glob) => {
                    flush(&mut literal, &mut segments);
                    // `**` means the same as `*`; keeping one keeps the chunks non-empty.
                    if segments.last() != Some(&Segment::AnyChars) {
                        segments.push(Segment::AnyChars);
                    }
                }
                ('?', Syntax::Glob) => {
                    flush(&mut literal, &mut segments);
                    segments.push(Segment::OneChar);
                }
                _ => literal.push(c),
            }
        }
        flush(&mut literal, &mut segments);
        let has_variables = segments.iter().any(|s| matches!(s, Segment::Variable(_)));
        Ok(Pattern {
            segments,
            has_variables,
        })
    }

    /// The variables this pattern uses.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Variable(variable) => Some(variable),
            _ => None,
        })
    }

    /// Whether the pattern has a `*`, or a literal `/`: otherwise it cannot match the
    /// `bucket/key` of an object ARN (substituted values never hold `/`).
    pub(crate) fn can_span_slash(&self) -> bool {
        self.segments.iter().any(|segment| match segment {
            Segment::AnyChars => true,
            Segment::Literal { text, .. } => text.contains('/'),
            Segment::OneChar | Segment::Variable(_) => false,
        })
    }

    /// Matches the whole of `text`. `resolve` gives each variable's value; `None` if any
    /// variable does not resolve (the caller decides what an unresolved entry means).
    pub(crate) fn matches<'v, R>(&self, text: &str, case: Case, resolve: R) -> Option<bool>
    where
        R: Fn(&Variable) -> Option<&'v str>,
    {
        if self.has_variables && self.variables().any(|variable| resolve(variable).is_none()) {
            return None;
        }
        let m = Matcher {
            text,
            case,
            resolve,
        };
        // Most actions are one literal (`s3:GetObject`): compare without the machinery.
        if let [Segment::Literal { text: literal, .. }] = self.segments.as_slice() {
            return Some(m.eat(0, literal) == Some(text.len()));
        }
        Some(m.run(&self.segments))
    }

    /// Whether `text` cannot match whatever the variables resolve to, because it does
    /// not begin with the pattern's leading literal text: a cheap early rejection for
    /// callers to whom "no match" and "unresolved" mean the same.
    pub(crate) fn rejects_by_head(&self, text: &str, case: Case) -> bool {
        match self.segments.first() {
            Some(Segment::Literal { text: head, .. }) => {
                let m = Matcher {
                    text,
                    case,
                    resolve: |_: &Variable| None,
                };
                m.eat(0, head).is_none()
            }
            _ => false,
        }
    }
}

fn flush(literal: &mut String, segments: &mut Vec<Segment>) {
    if !literal.is_empty() {
        let text = std::mem::take(literal);
        segments.push(Segment::Literal {
            chars: text.chars().count(),
            text: text.into_boxed_str(),
        });
    }
}

struct Matcher<'t, R> {
    text: &'t str,
    case: Case,
    resolve: R,
}

impl<'t, 'v, R> Matcher<'t, R>
where
    R: Fn(&Variable) -> Option<&'v str>,
{
    fn run(&self, segments: &[Segment]) -> bool {
        let text = self.text;
        let mut chunks = segments
            .split(|segment| *segment == Segment::AnyChars)
            .peekable();
        let first = chunks.next().unwrap_or(&[]);
        let Some(mut pos) = self.match_at(first, 0) else {
            return false;
        };
        if chunks.peek().is_none() {
            // No `*` at all: the one chunk must cover the whole text.
            return pos == text.len();
        }
        while let Some(chunk) = chunks.next() {
            if chunks.peek().is_none() {
                // The last chunk is anchored at the end; it has a fixed length in chars.
                let Some(len) = self.chunk_chars(chunk) else {
                    return false;
                };
                let Some(start) = start_of_last_chars(text, len) else {
                    return false;
                };
                return start >= pos && self.match_at(chunk, start) == Some(text.len());
            }
            match self.find_leftmost(chunk, pos) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        // Unreachable: the loop returns at the last chunk. Fail closed regardless.
        false
    }

    /// The end of the leftmost match of `chunk` starting at or after `from`.
    fn find_leftmost(&self, chunk: &[Segment], from: usize) -> Option<usize> {
        // A match can only start where the chunk's leading text occurs: jump there with
        // a substring search instead of trying every position (case-sensitive only).
        let leading = match (self.case, chunk.first()) {
            (Case::Sensitive, Some(Segment::Literal { text, .. })) => Some(&**text),
            (Case::Sensitive, Some(Segment::Variable(variable))) => (self.resolve)(variable),
            _ => None,
        };
        let mut start = from;
        loop {
            if let Some(leading) = leading {
                start += self.text[start..].find(leading)?;
            }
            if let Some(end) = self.match_at(chunk, start) {
                return Some(end);
            }
            let next = self.text[start..].chars().next()?;
            start += next.len_utf8();
        }
    }

    /// Matches `chunk` (no `AnyChars` inside) at byte offset `pos`; returns its end.
    fn match_at(&self, chunk: &[Segment], mut pos: usize) -> Option<usize> {
        for segment in chunk {
            pos = match segment {
                Segment::Literal { text, .. } => self.eat(pos, text)?,
                Segment::Variable(variable) => self.eat(pos, (self.resolve)(variable)?)?,
                Segment::OneChar => pos + self.text[pos..].chars().next()?.len_utf8(),
                Segment::AnyChars => return None,
            };
        }
        Some(pos)
    }

    /// Consumes `literal` at `pos`, comparing under `self.case`.
    fn eat(&self, pos: usize, literal: &str) -> Option<usize> {
        let rest = &self.text[pos..];
        let same = match self.case {
            Case::Sensitive => rest.starts_with(literal),
            // Bytewise is the same as charwise here: ASCII folding keeps lengths, other
            // bytes must be equal, and equal UTF-8 bytes end on a char boundary.
            Case::AsciiInsensitive => rest
                .as_bytes()
                .get(..literal.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(literal.as_bytes())),
        };
        same.then_some(pos + literal.len())
    }

    fn chunk_chars(&self, chunk: &[Segment]) -> Option<usize> {
        chunk.iter().try_fold(0usize, |sum, segment| {
            Some(
                sum + match segment {
                    Segment::Literal { chars, .. } => *chars,
                    Segment::Variable(variable) => (self.resolve)(variable)?.chars().count(),
                    Segment::OneChar => 1,
                    Segment::AnyChars => 0,
                },
            )
        })
    }
}

/// Byte offset where the last `n` chars of `text` begin, if it has that many.
fn start_of_last_chars(text: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(text.len());
    }
    text.char_indices().rev().nth(n - 1).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern, Syntax::Glob)
            .unwrap()
            .matches(text, Case::Sensitive, |_| None)
            .unwrap()
    }

    #[test]
    fn wildcard_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("a", "a", true),
            ("a", "A", false),
            ("a*", "a", true),
            ("a*", "abc/def", true),
            ("*c", "abc", true),
            ("*c", "abcd", false),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abcb", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "abbc", false),
            ("?", "é", true),
            ("?", "😀", true),
            ("??", "😀", false),
            ("a?", "añ", true),
            ("*?", "", false),
            ("*?", "x", true),
            ("*a?", "xxab", true),
            ("*a?", "xxa", false),
            ("a**b", "ab", true),
            ("users/*/photos/*", "users/alice/photos/x.png", true),
            ("users/*/photos/*", "users/alice/docs/x.png", false),
            ("*/secrets/*", "bucket/a/secrets/b", true),
            ("*/secrets/*", "bucket/secrets", false),
            ("*aaa*aaa", "aaaaa", false),
            ("*aaa*aaa", "aaaaaa", true),
            ("a*a*a", "aa", false),
            ("a*a*a", "aaa", true),
            ("$", "$", true),
            ("a$b{", "a$b{", true),
            ("${*}", "*", true),
            ("${*}", "x", false),
            ("${?}", "?", true),
            ("${?}", "x", false),
            ("${$}{x}", "${x}", true),
            ("x${*}*", "x*abc", true),
            ("x${*}*", "xabc", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob(pattern, text), *want, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn template_has_no_wildcards() {
        let p = Pattern::parse("image/*", Syntax::Template).unwrap();
        assert_eq!(p.matches("image/*", Case::Sensitive, |_| None), Some(true));
        assert_eq!(
            p.matches("image/png", Case::Sensitive, |_| None),
            Some(false)
        );
    }

    #[test]
    fn case_modes() {
        let p = Pattern::parse("s3:get*", Syntax::Glob).unwrap();
        assert_eq!(
            p.matches("S3:GetObject", Case::AsciiInsensitive, |_| None),
            Some(true)
        );
        assert_eq!(
            p.matches("S3:GetObject", Case::Sensitive, |_| None),
            Some(false)
        );
        // The Kelvin sign lowercases to `k` in Unicode but not in ASCII.
        let k = Pattern::parse("k", Syntax::Glob).unwrap();
        assert_eq!(
            k.matches("\u{212A}", Case::AsciiInsensitive, |_| None),
            Some(false)
        );
        // Non-ASCII letters compare exactly.
        let u = Pattern::parse("ÄRGER", Syntax::Template).unwrap();
        assert_eq!(
            u.matches("äRGER", Case::AsciiInsensitive, |_| None),
            Some(false)
        );
        assert_eq!(
            u.matches("ÄrGeR", Case::AsciiInsensitive, |_| None),
            Some(true)
        );
    }

    #[test]
    fn variables_are_literal() {
        let p = Pattern::parse("home/${jwt:sub}/*", Syntax::Glob).unwrap();
        let with = |value: &'static str| move |_: &Variable| Some(value);
        assert_eq!(
            p.matches("home/alice/x", Case::Sensitive, with("alice")),
            Some(true)
        );
        assert_eq!(
            p.matches("home/bob/x", Case::Sensitive, with("*")),
            Some(false)
        );
        assert_eq!(
            p.matches("home/*/x", Case::Sensitive, with("*")),
            Some(true)
        );
        assert_eq!(
            p.matches("home/b/x", Case::Sensitive, with("?")),
            Some(false)
        );
        assert_eq!(
            p.matches("home/${jwt:sub}/x", Case::Sensitive, with("${jwt:sub}")),
            Some(true)
        );
        assert_eq!(p.matches("home/alice/x", Case::Sensitive, |_| None), None);
        // A variable at the end of a pattern is anchored by its value's length.
        let tail = Pattern::parse("*-${jwt:sub}", Syntax::Glob).unwrap();
        assert_eq!(
            tail.matches("a-b-ü", Case::Sensitive, with("ü")),
            Some(true)
        );
        assert_eq!(
            tail.matches("a-b-ü", Case::Sensitive, with("b-ü")),
            Some(true)
        );
        assert_eq!(
            tail.matches("a-b-ü", Case::Sensitive, with("x")),
            Some(false)
        );
    }

    #[test]
    fn early_rejection_by_leading_text() {
        let p = Pattern::parse("arn:aws:s3:::b/${jwt:sub}/*", Syntax::Glob).unwrap();
        assert!(p.rejects_by_head("arn:aws:s3:::c/alice/x", Case::Sensitive));
        assert!(!p.rejects_by_head("arn:aws:s3:::b/alice/x", Case::Sensitive));
        // Only leading literal text counts: a variable or wildcard first rejects nothing.
        for source in ["${jwt:sub}/x", "*/x", "?x"] {
            let p = Pattern::parse(source, Syntax::Glob).unwrap();
            assert!(!p.rejects_by_head("zzz", Case::Sensitive), "{source}");
        }
        let a = Pattern::parse("s3:Get*", Syntax::Glob).unwrap();
        assert!(!a.rejects_by_head("S3:GETOBJECT", Case::AsciiInsensitive));
        assert!(a.rejects_by_head("s3:PutObject", Case::AsciiInsensitive));
    }

    #[test]
    fn errors() {
        for bad in ["${jwt:sub", "a${", "${nope:x}", "${}"] {
            assert!(Pattern::parse(bad, Syntax::Glob).is_err(), "{bad}");
        }
    }

    /// Reference matcher: textbook dynamic programming over chars, obviously correct.
    fn reference(pattern: &[char], text: &[char]) -> bool {
        let mut dp = vec![vec![false; text.len() + 1]; pattern.len() + 1];
        dp[0][0] = true;
        for i in 1..=pattern.len() {
            for j in 0..=text.len() {
                dp[i][j] = match pattern[i - 1] {
                    '*' => dp[i - 1][j] || (j > 0 && dp[i][j - 1]),
                    '?' => j > 0 && dp[i - 1][j - 1],
                    c => j > 0 && dp[i - 1][j - 1] && text[j - 1] == c,
                };
            }
        }
        dp[pattern.len()][text.len()]
    }

    #[test]
    fn agrees_with_reference_on_random_inputs() {
        // xorshift: deterministic, no dependency.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let alphabet = ['a', 'b', '/', 'é'];
        for _ in 0..20_000 {
            let pattern: Vec<char> = (0..next(8))
                .map(|_| match next(6) {
                    0 => '*',
                    1 => '?',
                    _ => alphabet[next(alphabet.len())],
                })
                .collect();
            let text: Vec<char> = (0..next(10))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            let (p, t): (String, String) = (pattern.iter().collect(), text.iter().collect());
            let want = reference(&pattern, &text);
            assert_eq!(glob(&p, &t), want, "{p:?} vs {t:?}");
            // The early rejection never rejects a match.
            let compiled = Pattern::parse(&p, Syntax::Glob).unwrap();
            assert!(
                !(want && compiled.rejects_by_head(&t, Case::Sensitive)),
                "{p:?} {t:?}"
            );
        }
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        // Classic exponential case for backtracking matchers: a*a*a*...*b vs aaaa...a.
        let pattern = format!("{}b", "a*".repeat(200));
        let text = "a".repeat(5000);
        let start = std::time::Instant::now();
        assert!(!glob(&pattern, &text));
        assert!(glob(&pattern, &format!("{text}b")));
        let long = format!("{}x", "*?".repeat(500));
        assert!(!glob(&long, &"y".repeat(2000)));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
