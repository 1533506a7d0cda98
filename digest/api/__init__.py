"""The public REST API: trending papers, a paper, a day's digest, a reader's personal feed."""
