"""``airflow_provider_seekrflow.models`` names every model the client's resource modules define."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import airflow_provider_seekrflow.client as client
from airflow_provider_seekrflow import models
from airflow_provider_seekrflow.client.service_model import ServiceModel


def _defined_models() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(client.__path__):
        module = importlib.import_module(f"{client.__name__}.{info.name}")
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, ServiceModel)
                and value.__module__ == module.__name__
            ):
                found[name] = value
    return found


def test_every_service_model_is_exported_by_models():
    defined = _defined_models()

    assert len(defined) >= 20
    missing = sorted(name for name in defined if name not in models.__all__)
    assert missing == []
    assert all(getattr(models, name) is value for name, value in defined.items())


def test_every_exported_name_exists():
    assert [name for name in models.__all__ if not hasattr(models, name)] == []
