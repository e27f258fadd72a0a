"""Data made through each real app's own models and helpers, grown in place
from one size to a larger one (``grow_to``), so one test can measure a page
at two sizes on the same database.

Every ordering a page uses is made unambiguous (distinct priorities, names,
ids), so two renders of the same rows list them in the same order on SQLite
and PostgreSQL alike; where a page shows a relation no query orders (a
task's assignees), the rows are made so that every scan order agrees."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import Group, User

# A fixed past date: ``Task.overdue_status`` compares with today, so a date
# in the past keeps the page the same whatever day the tests run.
DUE = datetime.date(2024, 3, 1)


def make_user(username: str, **extra) -> User:
    first, _, last = username.partition("-")
    return User.objects.create_user(
        username,
        email=f"{username}@example.com",
        first_name=first.title(),
        last_name=last.title(),
        **extra,
    )


class TodoWorld:
    """django-todo: a staff user in three groups; per step ``i`` one member,
    one task list (group ``i % 3``) holding one task assigned to the staff
    user, and one task on the main list created by that member and assigned
    to them (every fifth to nobody)."""

    def __init__(self) -> None:
        from todo.models import TaskList

        self.size = 0
        self.owner = make_user("olive-owner", is_staff=True)
        self.groups = [Group.objects.create(name=f"Workgroup {g}") for g in range(3)]
        self.owner.groups.add(*self.groups)
        self.main = TaskList.objects.create(name="Main list", slug="main-list",
                                            group=self.groups[0])

    def grow_to(self, n: int) -> TodoWorld:
        from todo.models import Task, TaskList

        for i in range(self.size, n):
            member = make_user(f"member{i:02d}-person")
            member.groups.add(self.groups[0])
            task_list = TaskList.objects.create(
                name=f"List {i:02d}", slug=f"list-{i:02d}", group=self.groups[i % 3]
            )
            side = Task.objects.create(
                title=f"Side task {i:02d}", task_list=task_list, created_by=member,
                priority=1000 + i, due_date=DUE if i % 2 else None,
            )
            side.assigned_to.add(self.owner)
            task = Task.objects.create(
                title=f"Main task {i:02d} with a longer title than ten words would allow "
                      f"in the list page's cell",
                task_list=self.main, created_by=member, priority=i,
                note=f"<b>Note</b> for task {i}" if i % 3 == 0 else "",
                due_date=DUE if i % 2 == 0 else None,
            )
            # At most one assignee: ``task.assigned_to.all`` has no ordering
            # (auth.User has none), so with two PostgreSQL lists them in the
            # order of its plan's scans, which differs between one task's query
            # and the prefetch of all tasks' (and, on a reused table, between
            # two runs): neither backend could promise the same page. Every
            # fifth task has none ("Anyone").
            if i % 5 != 4:
                task.assigned_to.add(member)
        self.size = n
        return self

    def pages(self) -> dict[str, str]:
        from django.urls import reverse

        return {
            "lists": reverse("todo:lists"),
            "list_detail": reverse("todo:list_detail", args=[self.main.id, self.main.slug]),
            "mine": reverse("todo:mine"),
        }


class OrganizationsWorld:
    """django-organizations: one organization made by its owner through
    ``create_organization``; per step one member added with ``add_user``
    (every third one inactive, which the members page shows differently)."""

    def __init__(self) -> None:
        from organizations.utils import create_organization

        self.size = 0
        self.owner = make_user("olive-owner")
        self.organization = create_organization(self.owner, "Acme Rentals")

    def grow_to(self, n: int) -> OrganizationsWorld:
        for i in range(self.size, n):
            member = make_user(f"member{i:02d}-person", is_active=i % 3 != 0)
            self.organization.add_user(member, is_admin=i % 4 == 0)
        self.size = n
        return self

    def pages(self) -> dict[str, str]:
        from django.urls import reverse

        pk = self.organization.pk
        return {
            "detail": reverse("organization_detail", kwargs={"organization_pk": pk}),
            "people": reverse("organization_user_list", kwargs={"organization_pk": pk}),
        }


WORLDS = {"todo": TodoWorld, "organizations": OrganizationsWorld}
