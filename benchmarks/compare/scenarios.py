"""The three scenarios: a template each, the context name it loops over and
the hand-tuned querysets an expert would write for it.

The paths every contender serializes are not written here: they are what
djust extracts from the scenario's template, so the comparison measures the
template a developer would write, not a list someone might get wrong.

    >>> S1.name, S1.variable
    ('S1', 'leases')
"""

from __future__ import annotations

from dataclasses import dataclass

S1_TEMPLATE = """\
{% for lease in leases %}
  {{ lease.property.name }} · {{ lease.unit.number }} · {{ lease.tenant.user.email }}
  {{ lease.monthly_rent }} {{ lease.start_date }} → {{ lease.end_date }}
  {{ lease.get_status_display }} {{ lease.signed_at }}
{% endfor %}
"""

S2_TEMPLATE = """\
{% for lease in leases %}
  {{ lease.property.name }} · {{ lease.unit.number }} · {{ lease.tenant.user.email }}
  {{ lease.monthly_rent }} {{ lease.start_date }} → {{ lease.end_date }}
  {{ lease.get_status_display }} {{ lease.signed_at }}
  {{ lease.tenant.user.get_full_name }} {{ lease.days_until_expiration }}
  {% if lease.is_expiring_soon %}expiring soon{% endif %}
{% endfor %}
"""

# "Open maintenance requests per unit": the template filters on the status,
# as templates do, so every request's title and status are serialized.
S3_TEMPLATE = """\
{% for property in properties %}
  {{ property.name }} ({{ property.units.count }} units)
  {% for unit in property.units.all %}
    {{ unit.number }}
    {% for request in unit.maintenance_requests.all %}
      {% if request.status == "open" %}{{ request.title }}{% endif %}
    {% endfor %}
  {% endfor %}
  {% for amenity in property.amenities.all %}{{ amenity.name }}{% endfor %}
{% endfor %}
"""


@dataclass(frozen=True)
class Scenario:
    """One benchmark scenario: its template and the model it loops over."""

    name: str
    title: str
    template: str
    variable: str
    model_label: str

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_label)

    def paths(self) -> tuple[str, ...]:
        """The per-element paths djust extracts from the template.

            >>> S1.paths()[:2]  # doctest: +SKIP
            ('end_date', 'get_status_display')
        """
        from djust.compiler import extract_template_variables

        extracted = extract_template_variables(self.template, name=f"{self.name}.html")
        return tuple(path.removeprefix("*.") for path in extracted[self.variable]
                     if path.startswith("*."))

    def base_queryset(self):
        """What the view hands to the template, before any tuning."""
        return self.model._default_manager.all()


S1 = Scenario("S1", "fields and FK chains", S1_TEMPLATE, "leases", "rentals.Lease")
S2 = Scenario("S2", "S1 + method and properties", S2_TEMPLATE, "leases", "rentals.Lease")
S3 = Scenario("S3", "to-many (units, amenities, requests)", S3_TEMPLATE, "properties",
              "rentals.Property")
SCENARIOS = (S1, S2, S3)
