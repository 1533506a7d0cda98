"""Email composition: subjects, HTML with inlined CSS, plain text, list headers."""
