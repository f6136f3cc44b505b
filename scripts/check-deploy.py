#!/usr/bin/env python3
"""Offline checks of compose/ and k8s/ (no Docker engine or cluster here): every file parses,
compose services are well-formed and reference only what exists, k8s documents are complete
objects in the novacron namespace. Exits 1 with one line per problem."""
import pathlib
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
problems = []

compose_file = root / "compose" / "docker-compose.yml"
compose = yaml.safe_load(compose_file.read_text())
services = compose.get("services", {})
if not services:
    problems.append("compose: no services")
for name, service in services.items():
    if "image" not in service and "build" not in service:
        problems.append(f"compose: service {name} has neither image nor build")
    depends = service.get("depends_on", {})
    for dependency in depends if isinstance(depends, (list, dict)) else []:
        if dependency not in services:
            problems.append(f"compose: {name} depends on unknown service {dependency}")
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            if not (compose_file.parent / source).exists():
                problems.append(f"compose: {name} mounts missing file {source}")
        elif source not in (compose.get("volumes") or {}):
            problems.append(f"compose: {name} uses undeclared volume {source}")

for path in sorted((root / "k8s").glob("*.yaml")):
    for index, document in enumerate(yaml.safe_load_all(path.read_text())):
        if document is None:
            continue
        where = f"{path.relative_to(root)}[{index}]"
        for field in ("apiVersion", "kind", "metadata"):
            if field not in document:
                problems.append(f"{where}: missing {field}")
        metadata = document.get("metadata") or {}
        if "name" not in metadata:
            problems.append(f"{where}: metadata.name missing")
        if document.get("kind") != "Namespace" and metadata.get("namespace") != "novacron":
            problems.append(f"{where}: not in namespace novacron")

for problem in problems:
    print(problem)
print(f"check-deploy: {len(services)} compose services, k8s files checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
