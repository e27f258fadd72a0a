"""LiveViews used by the LiveView tests."""

from djust import LiveView, event_handler
from examples.rentals.models import Lease, Property

PAGE = """<html><body><main dj-root>
<p id="status">{{ status }}</p>
{% for lease in leases %}<li>{{ lease.tenant.user.email }}|{{ lease.property.name }}|
{{ lease.end_date|date:"Y-m-d" }}</li>{% endfor %}
<p id="count">{{ leases.count }}</p><p id="length">{{ leases|length }}</p>
<p id="first">{{ leases.first.property.name }}</p>
{% for p in properties %}<h3>{{ p.name }} {{ p.units.count }}</h3>{% endfor %}
</main></body></html>"""


class LeaseList(LiveView):
    template = PAGE

    def mount(self, request, **kwargs):
        self.status = "active"
        self.secret_note = "never sent"
        self.leases = Lease.objects.filter(status=self.status).order_by("id")
        self.properties = Property.objects.order_by("id")

    @event_handler
    def show(self, status: str):
        self.status = status
        self.leases = Lease.objects.filter(status=status).order_by("id")

    @event_handler
    def limit(self, count: int, descending: bool = False):
        order = "-id" if descending else "id"
        self.leases = Lease.objects.filter(status=self.status).order_by(order)[:count]

    def not_a_handler(self):
        raise AssertionError("must never be called from the page")


class NoJit(LeaseList):
    jit = False


class CountOnly(LiveView):
    template = "<main dj-root>{{ leases.count }} {% if leases.exists %}yes{% endif %}</main>"

    def mount(self, request, **kwargs):
        self.leases = Lease.objects.all()


class Unanalysable(LiveView):
    template = ('<main dj-root>{% include name %}'
                "{% for l in leases %}{{ l.status }}{% endfor %}</main>")

    def mount(self, request, **kwargs):
        self.name = "live/included.html"
        self.leases = Lease.objects.order_by("id")


class FromFile(LiveView):
    template_name = "live/page.html"

    def mount(self, request, **kwargs):
        self.leases = Lease.objects.order_by("id")


class ValuesRows(LiveView):
    template = ('<main dj-root>{% for row in cities %}<i>{{ row.city }}</i>{% endfor %}'
                "{{ cities.count }}</main>")

    def mount(self, request, **kwargs):
        self.cities = Property.objects.order_by("city").values("city", "name")


class NoTemplate(LiveView):
    pass
