"""The fuzzing schema: every field type a template can show.

The property tests compare djust's serializers with an independent reference
on rows of these models, so the schema is deliberately wide rather than
realistic:

- ``Item`` carries one field of every kind a template displays (text, the
  integer family, float, decimals of several shapes, booleans, dates and
  times, durations, UUIDs, JSON, files, IP addresses, choices), nullable
  variants, and every kind of attribute Django's lookup rules treat
  specially (properties, ``cached_property``, plain methods, ``alters_data``,
  ``do_not_call_in_templates``, methods that raise loudly or silently, methods
  that need arguments).
- Relations of every kind hang off it: forward FK (``owner`` required,
  ``reviewer`` nullable), ManyToMany (``tags``), reverse FK (``comments``),
  OneToOne and its reverse (``Detail.item`` / ``item.detail``), a
  GenericRelation (``notes``) answered by a GenericForeignKey
  (``Note.target``), multi-table inheritance (``SpecialItem``) and an M2M
  with an explicit through model and a UUID primary key (``Group.members``).
- ``Owner`` holds secrets: ``password`` and ``ssn`` (listed in
  ``djust_sensitive_fields``), and may point at an ``auth.User``.
- Several ``__str__`` methods read a related object, so displaying a row
  costs a join unless the plan provides it.
- ``Gadget`` (with ``Depot`` and ``Label``) serves the idiom properties
  (property_tests/test_render_idioms.py): a JSONField holding dicts or lists,
  a method returning pairs, grouped class-level choices, a property that
  raises when its nullable relation is None, loud and quiet methods, a file
  that may be empty (``.url`` then raises ValueError), a parent/children
  relation to itself and a ManyToMany. Its rows are what templates compare
  (``==``, ``in``, ``ifchanged``), so two of them may hold identical content.

No migrations: the test database creates these tables directly.
"""

from __future__ import annotations

import uuid
from functools import cached_property

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models


class QuietFailure(Exception):
    """An error Django's template engine swallows (renders as invalid)."""

    silent_variable_failure = True


class LoudFailure(Exception):
    """An ordinary error: Django's template engine lets it propagate."""


class NameOnlyImageField(models.ImageField):
    # The fuzzer only ever displays an image's name, which needs no imaging
    # library; Pillow is not a dependency, so its system check is moot here.
    def _check_image_library_installed(self):
        return []


class Owner(models.Model):
    username = models.CharField(max_length=60)
    email = models.EmailField(blank=True)
    password = models.CharField(max_length=128, blank=True)
    ssn = models.CharField(max_length=20, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="fuzz_owner",
    )

    djust_sensitive_fields = ["ssn"]

    class Meta:
        ordering = ["username", "id"]

    def __str__(self):
        return self.username

    @property
    def masked_ssn(self):
        return "***" + self.ssn[-2:]


class Tag(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Item(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live <now>"
        GONE = "gone", "Gone & done"

    class Level(models.IntegerChoices):
        LOW = 1, "Low"
        HIGH = 2, "High"

    # Text family.
    title = models.CharField(max_length=100)
    body = models.TextField(blank=True)
    slug = models.SlugField(max_length=50, blank=True)
    email = models.EmailField(blank=True)
    url = models.URLField(blank=True)
    nickname = models.CharField(max_length=30, null=True, blank=True)
    # Integer family.
    small = models.SmallIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    positive_small = models.PositiveSmallIntegerField(default=0)
    positive_big = models.PositiveBigIntegerField(default=0)
    big = models.BigIntegerField(default=0)
    count = models.IntegerField(null=True, blank=True)
    # Numbers with a fractional part.
    ratio = models.FloatField(null=True, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    precise = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    whole = models.DecimalField(max_digits=5, decimal_places=0, default=0)
    # Truth values.
    flag = models.BooleanField(default=False)
    maybe = models.BooleanField(null=True, blank=True)
    # Time.
    day = models.DateField(null=True, blank=True)
    moment = models.DateTimeField(null=True, blank=True)
    clock = models.TimeField(null=True, blank=True)
    span = models.DurationField(null=True, blank=True)
    # Everything else a template can show.
    token = models.UUIDField(default=uuid.uuid4)
    data = models.JSONField(null=True, blank=True)
    attachment = models.FileField(upload_to="attachments/", blank=True)
    picture = NameOnlyImageField(upload_to="pictures/", blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    level = models.IntegerField(choices=Level.choices, null=True, blank=True)
    # Relations.
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="items")
    reviewer = models.ForeignKey(
        Owner, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_items"
    )
    tags = models.ManyToManyField(Tag, related_name="items", blank=True)
    notes = GenericRelation("Note", related_query_name="item")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.title} by {self.owner}"

    @property
    def label(self):
        return f"{self.title} [{self.get_status_display()}]"

    @cached_property
    def summary(self):
        return {"title": self.title, "price": self.price, "flags": [self.flag, self.maybe]}

    @property
    def quiet_property(self):
        raise QuietFailure("swallowed by the template engine")

    @property
    def loud_property(self):
        raise LoudFailure("propagates through the template engine")

    def shout(self):
        return self.title.upper()

    def scaled(self, factor):
        return self.price * factor

    def quiet_method(self):
        raise QuietFailure("swallowed by the template engine")

    def loud_method(self):
        raise LoudFailure("propagates through the template engine")

    def archive(self):
        raise AssertionError("alters_data: a template must never call this")

    archive.alters_data = True

    def as_callable(self):
        raise AssertionError("do_not_call_in_templates: a template must never call this")

    as_callable.do_not_call_in_templates = True


class SpecialItem(Item):
    bonus = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    motto = models.CharField(max_length=40, blank=True)

    def __str__(self):
        return f"special {self.title}"


class Detail(models.Model):
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="detail")
    notes_text = models.TextField(blank=True)
    weight = models.FloatField(default=0.0)

    def __str__(self):
        return f"detail of {self.item.title}"


class Comment(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        Owner, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    text = models.CharField(max_length=200)
    posted = models.DateTimeField(null=True, blank=True)
    score = models.SmallIntegerField(default=0)

    class Meta:
        ordering = ["-score", "id"]

    def __str__(self):
        return f"{self.author or 'anonymous'}: {self.text}"


class Note(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    text = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.text


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=50)
    members = models.ManyToManyField(Owner, through="Membership", related_name="groups")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, default="member")
    joined = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.owner} in {self.group}"


class Depot(models.Model):
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["code", "id"]

    def __str__(self):
        return self.name


class Label(models.Model):
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Gadget(models.Model):
    # Grouped choices: ``{% for group, options in g.KIND_CHOICES %}`` unpacks
    # the groups, ``{% for value, text in options %}`` the choices.
    KIND_CHOICES = [
        ("Tools", [("saw", "Saw"), ("drill", "Drill <d>")]),
        ("Toys", [("ball", "Ball"), ("kite", "Kite & co")]),
    ]

    name = models.CharField(max_length=40)
    rank = models.IntegerField(default=0)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default="saw")
    data = models.JSONField(null=True, blank=True)
    manual = models.FileField(upload_to="manuals/", blank=True)
    depot = models.ForeignKey(
        Depot, null=True, blank=True, on_delete=models.SET_NULL, related_name="gadgets"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="gadgets")

    class Meta:
        ordering = ["rank", "id"]

    def __str__(self):
        return self.name

    @property
    def depot_code(self):
        # AttributeError when depot is None; Django re-raises an
        # AttributeError that a property raised, so the page fails.
        return self.depot.code

    def pairs(self):
        return [("name", self.name), ("rank", self.rank), ("kind", self.kind)]

    def loud(self):
        raise LoudFailure("propagates through the template engine")

    def quiet(self):
        raise QuietFailure("swallowed by the template engine")
