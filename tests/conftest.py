import os

import pytest

from runtime_fixtures import export_all

# MediaPipe's native logging is noise in test output.
os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """Fixture gender, age and attribute models (the classifier says 'female' for every face)."""
    return export_all(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def registry(models_dir):
    from mirror.models import Registry

    return Registry(models_dir)
