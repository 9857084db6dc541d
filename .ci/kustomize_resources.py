"""The Kubernetes resource files of a kustomization directory, one path a line.

Usage: python3 .ci/kustomize_resources.py DIR

DIR holds kustomization.yaml. Prints every *.yaml/*.yml file directly in DIR, sorted, except the
kustomization itself and the files a configMapGenerator or secretGenerator reads as data (its
`files`, `envs` and `env`): the files .ci/conformance.sh gives kubernetes-validate one by one.
Needs PyYAML.
"""

import os
import sys

import yaml

d = sys.argv[1]
k = yaml.safe_load(open(os.path.join(d, "kustomization.yaml"))) or {}
data = set()
for gen in ("configMapGenerator", "secretGenerator"):
    for g in k.get(gen) or []:
        for f in g.get("files") or []:
            data.add(os.path.normpath(os.path.join(d, f.split("=", 1)[-1])))
        for f in g.get("envs") or ([g["env"]] if g.get("env") else []):
            data.add(os.path.normpath(os.path.join(d, f)))
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    if name in ("kustomization.yaml", "kustomization.yml", "Kustomization") or not os.path.isfile(p):
        continue
    if name.endswith((".yaml", ".yml")) and os.path.normpath(p) not in data:
        print(p)
