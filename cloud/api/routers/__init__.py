"""One router per resource of the read API."""
