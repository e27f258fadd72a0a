"""Models for the typed-access-tree and planner tests: every node kind.

- ``Publisher`` has a CharField primary key; ``Tag`` a UUID primary key.
- ``Author`` inherits an abstract base (``Stamped``), holds a JSONField, a
  sensitive ``api_token`` (``djust_sensitive_fields``), an optional
  ``auth.User``, and every kind of attribute the template engine treats
  specially (properties, ``cached_property``, plain methods, ``alters_data``,
  ``do_not_call_in_templates``, methods that need arguments, that raise
  loudly or silently, that read ``self`` dynamically).
- ``Biography`` is the reverse OneToOne of ``Author``.
- ``Book``: forward FKs (required and nullable), a reverse FK through the
  default ``book_set`` accessor with a distinct ``related_query_name``, a
  plain ManyToMany (``tags``), an M2M with an explicit through model
  (``Shop.books`` via ``Stock``), a GenericRelation (``comments``) answered by
  a GenericForeignKey (``Comment.target``), choices, and a ``__str__`` that
  reads a related row.
- ``Chapter`` has a custom default manager that hides drafts.
- ``Place``/``Restaurant``: multi-table inheritance; ``BookProxy``: a proxy.

No migrations: the test database creates these tables directly.
"""

from __future__ import annotations

import uuid
from functools import cached_property

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class QuietFailure(Exception):
    """An error the template engine swallows (the lookup renders as invalid)."""

    silent_variable_failure = True


class Stamped(models.Model):
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    @property
    def created_year(self):
        return self.created.year


class Publisher(models.Model):
    code = models.CharField(primary_key=True, max_length=12)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Tag(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=50)

    class Meta:
        ordering = ["label"]

    def __str__(self):
        return self.label


class Author(Stamped):
    name = models.CharField(max_length=100)
    api_token = models.CharField(max_length=64, blank=True)
    profile = models.JSONField(default=dict, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="author",
    )

    djust_sensitive_fields = ("api_token",)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def initials(self):
        return "".join(part[0] for part in self.name.split())

    @cached_property
    def book_total(self):
        return self.books.count()

    def shout(self):
        return self.name.upper()

    def rename(self):
        self.name = "renamed"

    rename.alters_data = True

    def as_literal(self):
        return "never called"

    as_literal.do_not_call_in_templates = True

    def greet(self, other):
        return f"{self.name} greets {other}"

    def quiet(self):
        raise QuietFailure("hidden from templates")

    def loud(self):
        raise ValueError("templates let this escape")

    def dynamic(self):
        return getattr(self, self.profile.get("attribute", "name"))

    @staticmethod
    def kind():
        return "author"


class Biography(models.Model):
    author = models.OneToOneField(Author, on_delete=models.CASCADE, related_name="biography")
    text = models.TextField()

    def __str__(self):
        return f"Biography of {self.author.name}"


class Book(models.Model):
    class Genre(models.TextChoices):
        NOVEL = "novel", "Novel"
        POETRY = "poetry", "Poetry"
        ESSAY = "essay", "Essay"

    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(
        Publisher, null=True, blank=True, on_delete=models.SET_NULL,
        related_query_name="published_book",
    )
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)
    genre = models.CharField(max_length=10, choices=Genre.choices, default=Genre.NOVEL)
    pages = models.IntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    comments = GenericRelation("Comment", related_query_name="book")

    class Meta:
        ordering = ["title", "id"]

    def __str__(self):
        return f"{self.title} ({self.author.name})"

    @property
    def is_long(self):
        return (self.pages or 0) > 300

    def publisher_label(self):
        return self.publisher.name if self.publisher_id else "self-published"

    # A class constant read through self: an annotation of that name hides it.
    PAGE_LIMIT = 300

    @property
    def over_limit(self):
        return (self.pages or 0) > self.PAGE_LIMIT


class BookProxy(Book):
    class Meta:
        proxy = True

    @property
    def shouted_title(self):
        return self.title.upper()


class PublishedManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(draft=False)


class Chapter(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="chapters")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=100)
    draft = models.BooleanField(default=False)

    objects = PublishedManager()
    everything = models.Manager()

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.number}. {self.title}"


class Comment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    body = models.CharField(max_length=200)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.body


class Shop(models.Model):
    name = models.CharField(max_length=100)
    books = models.ManyToManyField(Book, through="Stock", related_name="shops")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Stock(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE)
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    quantity = models.PositiveIntegerField(default=0)


class Place(models.Model):
    name = models.CharField(max_length=100)
    address = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return self.name


class Restaurant(Place):
    serves_pizza = models.BooleanField(default=False)
    chef = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="restaurants")

    def __str__(self):
        return f"{self.name} (restaurant)"


class Untitled(models.Model):
    """A model keeping Django's default ``__str__``."""

    label = models.CharField(max_length=20)
    owner = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")


class Depot(models.Model):
    """A row compared with others (``{% if g.depot == depot %}``)."""

    code = models.CharField(max_length=10)

    def __str__(self):
        return f"Depot {self.code}"


class Label(models.Model):
    name = models.CharField(max_length=20)

    def __str__(self):
        return self.name


class Gadget(models.Model):
    """The idioms real templates use on one model (tests/test_render_idioms.py):
    an optional file, a nullable relation read by a property, a JSONField,
    a self relation, a many-to-many, a choices constant, methods returning
    pairs or raising."""

    KIND_CHOICES = [("tools", [("saw", "Saw"), ("drill", "Drill")]), ("misc", "Other")]

    name = models.CharField(max_length=30)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default="misc")
    manual = models.FileField(upload_to="manuals/", blank=True)
    depot = models.ForeignKey(Depot, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="gadgets")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="children")
    labels = models.ManyToManyField(Label, blank=True, related_name="gadgets")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        # "id" breaks the tie between two rows of the same name: two queries
        # for the same page must list them in the same order.
        ordering = ["name", "id"]

    def __str__(self):
        return f"Gadget {self.name}"

    @property
    def depot_code(self):
        # Raises AttributeError when there is no depot: templates guard it.
        return self.depot.code

    def pairs(self):
        return [(self.name, len(self.name)), ("kind", self.kind)]

    def info(self):
        return {"name": self.name, "kind": self.kind, "depot": self.depot}

    def loud(self):
        raise ValueError(f"loud {self.name}")

    def quiet(self):
        raise QuietFailure(f"quiet {self.name}")
