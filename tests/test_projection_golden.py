"""Golden files of the code ``projection.lower_projection`` generates.

The shapes of the benchmarks: forward chains of columns with a display
value (S1), a method and properties run on stand-ins (S2), and to-many
relations read as levels (S3), in both modes. Set
``DJUST_REGENERATE_GOLDEN=1`` to rewrite them after an intended change;
the test still compares afterwards.
"""

import ast

import pytest

from djust.compiler.emit import render_source
from djust.compiler.projection import lower_projection
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Lease, Property
from tests.golden import assert_matches_golden

S1 = ["property.name", "unit.number", "tenant.user.email", "monthly_rent", "start_date",
      "end_date", "get_status_display", "signed_at"]
S2 = [*S1, "tenant.user.get_full_name", "days_until_expiration", "is_expiring_soon"]
S3 = ["name", "units.count", "units.all.*.number", "amenities.all.*.name",
      "units.all.*.maintenance_requests.all.*.title",
      "units.all.*.maintenance_requests.all.*.status"]


@pytest.mark.parametrize(("name", "model", "paths", "mode"), [
    ("projection_s1_json", Lease, S1, "json"),
    ("projection_s1_python", Lease, S1, "python"),
    ("projection_s2_json", Lease, S2, "json"),
    ("projection_s2_python", Lease, S2, "python"),
    ("projection_s3_json", Property, S3, "json"),
    ("projection_s3_python", Property, S3, "python"),
])
def test_golden_projection_source(name, model, paths, mode):
    module, _, _ = lower_projection(build_access_tree(model, paths), mode, name="project_rows")
    source = render_source(module)
    assert ast.dump(ast.parse(source)) == ast.dump(module)
    assert_matches_golden(name, source)
