#!/usr/bin/env python3
"""Offline checks of compose/ and k8s/ (no Docker engine or cluster here): every file parses,
compose services are well-formed and reference only what exists, k8s documents are complete
objects in the novacron namespace. Exits 1 with one line per problem."""
import pathlib
import re
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

executables = set(re.findall(r'\.executable\(name: "([^"]+)"', (root / "Package.swift").read_text()))
dockerfile_text = (root / "Dockerfile").read_text() if (root / "Dockerfile").exists() else ""
for name, service in services.items():
    build = service.get("build")
    if build is None:
        continue
    context = compose_file.parent / (build.get("context", ".") if isinstance(build, dict) else build)
    dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
    if not dockerfile.exists():
        problems.append(f"compose: {name} builds from missing {dockerfile.relative_to(root) if dockerfile.is_relative_to(root) else dockerfile}")
    product = (build.get("args") or {}).get("PRODUCT") if isinstance(build, dict) else None
    if product not in executables:
        problems.append(f"compose: {name} builds PRODUCT {product!r}, not an executable of Package.swift")
if dockerfile_text and "ARG PRODUCT" not in dockerfile_text:
    problems.append("Dockerfile: no ARG PRODUCT")

documents = []
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
        documents.append((where, document))

# References between the k8s objects: a Deployment reads ConfigMaps that exist here and
# Secrets the README tells the operator to create, probes the status endpoints, and a Service
# selects some Deployment's pods.
config_maps = {d["metadata"].get("name") for _, d in documents if d.get("kind") == "ConfigMap"}
k8s_readme = (root / "k8s" / "README.md").read_text()
pod_labels = []
for where, document in documents:
    if document.get("kind") != "Deployment":
        continue
    template = (document.get("spec") or {}).get("template") or {}
    pod_labels.append(((template.get("metadata") or {}).get("labels")) or {})
    selector = ((document.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not selector or any(pod_labels[-1].get(k) != v for k, v in selector.items()):
        problems.append(f"{where}: selector does not match the pod template's labels")
    for container in (template.get("spec") or {}).get("containers") or []:
        label = f"{where} container {container.get('name')}"
        image = container.get("image") or ""
        if image.split(":")[0].rsplit("/", 1)[-1] not in executables:
            problems.append(f"{label}: image {image!r} is not named after an executable of Package.swift")
        for source in container.get("envFrom") or []:
            if "configMapRef" in source and source["configMapRef"].get("name") not in config_maps:
                problems.append(f"{label}: ConfigMap {source['configMapRef'].get('name')} is not defined in k8s/")
            if "secretRef" in source and source["secretRef"].get("name") not in k8s_readme:
                problems.append(f"{label}: Secret {source['secretRef'].get('name')} is not explained in k8s/README.md")
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = (container.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or ports.get(get.get("port"), get.get("port")) != 8080:
                problems.append(f"{label}: {probe} should GET {path} on port 8080")
for where, document in documents:
    if document.get("kind") != "Service":
        continue
    selector = (document.get("spec") or {}).get("selector") or {}
    if not any(selector and all(labels.get(k) == v for k, v in selector.items()) for labels in pod_labels):
        problems.append(f"{where}: selects no Deployment's pods")

for problem in problems:
    print(problem)
print(f"check-deploy: {len(services)} compose services, k8s files checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
