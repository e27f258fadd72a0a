"""djust in Django's template engine: the guard that refuses sensitive names
on objects a template reads live (``guard``)."""
