"""Inclusion tags that build their rows in Python, for the template backend's
tests: a plain one, and one that takes the page's context and returns it
(django-organizations' shape)."""

from django import template

from examples.rentals.models import Lease

register = template.Library()


@register.inclusion_tag("tag_rows.html")
def lease_rows(status):
    return {"rows": Lease.objects.filter(status=status).order_by("id")}


@register.inclusion_tag("tag_rows.html", takes_context=True)
def context_rows(context, status):
    context.update({"rows": Lease.objects.filter(status=status).order_by("id")})
    return context
