"""Does a paper's text (abstract, arXiv comment, a repository's description) promise code that
is not out yet? "Code will be released upon acceptance", "code coming soon"...

Pure functions (no Django, no network), like `digest.codelinks`. The phrases live in one place
below; bench/code_announced.py measures them on the recorded abstracts against hand labels.
A sentence announces code when it names the code (CODE_WORDS) and promises it for later
(PROMISES); a few phrases say both at once (STANDALONE). A claim that the code is out now
("code is available at ...", "we release ...") is no announcement.
"""

from __future__ import annotations

import re

__all__ = ["CODE_WORDS", "PROMISES", "STANDALONE", "code_announcement"]

# What the promise is about. "implementation" counts ("our implementation will be released"),
# "implementations of an application will be subjected to ..." does not: it has no promise.
CODE_WORDS = (
    r"code(?:s|base)?",
    r"source[- ]code",
    r"implementations?",
    r"repositor(?:y|ies)",
    r"repo",
    r"software",
    r"scripts?",
)

# What makes it a promise for later, in the forms seen in abstracts and comments (the text
# is matched with its spaces made single, so a space in a phrase stands for any run of them).
_OUT = r"(?:released|available|open[- ]?sourced|public(?:ly)?|shared|published|provided)"
PROMISES = (
    rf"will (?:soon |also |all |then )?be (?:\w+ )?(?:{_OUT}|made (?:\w+ )?(?:available|public))",
    r"will (?:soon |also )?(?:release|open[- ]?source|publish|share)",
    r"will (?:soon |also )?make\b.{0,60}?\b(?:available|public)",
    r"(?:is|are) (?:going|planned) to be (?:released|open[- ]?sourced|made (?:\w+ )?available)",
    r"(?:to be|yet to be) (?:released|open[- ]?sourced|made (?:\w+ )?available)",
    r"coming soon",
    r"(?:upon|after|once) (?:the )?(?:paper(?:'s)? )?(?:acceptance|publication|review)",
    r"(?:on|after) acceptance",
)

# Phrases that announce code on their own: a placeholder repository's description or README
# says "Code coming soon" without a verb; "stay tuned" names nothing but follows a code word.
STANDALONE = (
    r"code (?:is )?coming soon",
    r"(?:code|repository) (?:is )?under construction",
    r"code (?:will be )?(?:released|available) soon",
    r"stay tuned",
)

_CODE_RE = re.compile(r"\b(?:" + "|".join(CODE_WORDS) + r")\b", re.IGNORECASE)
_PROMISE_RE = re.compile(r"\b(?:" + "|".join(PROMISES) + r")", re.IGNORECASE)
_STANDALONE_RE = re.compile(r"\b(?:" + "|".join(STANDALONE) + r")\b", re.IGNORECASE)
# Sentence ends; a URL's dots are no end ("github.com/a/b will ...").
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
# arXiv text keeps LaTeX line breaks and doubled spaces: one space for the phrases.
_SPACE = re.compile(r"\s+")


def code_announcement(text: str) -> str | None:
    """The sentence of `text` that promises code still to come, or None. Never raises."""
    if not isinstance(text, str):
        return None
    for sentence in _SENTENCE_END.split(_SPACE.sub(" ", text)):
        if _STANDALONE_RE.search(sentence):
            return sentence.strip()
        if _CODE_RE.search(sentence) and _PROMISE_RE.search(sentence):
            return sentence.strip()
    return None
