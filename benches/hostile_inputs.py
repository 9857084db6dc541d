"""The hostile inputs of benches/hostile.sh, each under 1 MB, written into DIR as NAME.yaml.

Usage: python3 benches/hostile_inputs.py DIR
"""
import sys
w = sys.argv[1]
head = "apiVersion: misp-gen/v1\nname: x\nservices:\n"
def put(name, text):
    assert len(text.encode()) < 1_000_000, (name, len(text))
    open(f"{w}/{name}.yaml", "w").write(text)
# 20 000 unknown fields on one line (every error's excerpt is that line)
put("one-line-errors", head + "  web: { image: docker.io/library/nginx:1.27, " + ", ".join(f"b{i}: 1" for i in range(20000)) + " }\n")
# 30 000 unknown fields, one a line
put("unknown-fields", head + "  web:\n    image: docker.io/library/nginx:1.27\n" + "".join(f"    bogus{i}: 1\n" for i in range(30000)))
# did-you-mean over long names: 900 unknown keys of 1000 characters
put("long-names", head + "  web:\n    image: docker.io/library/nginx:1.27\n" + "".join(f"    {'i' * 990}{i:05d}: 1\n" for i in range(900)))
# 2 000 aliases of a 100 KB scalar
put("alias-bytes", "x: &big " + "a" * 100_000 + "\n" + head + "  web:\n    image: docker.io/library/nginx:1.27\n    command: [" + ", ".join(["*big"] * 2000) + "]\n")
# one 100 KB key
put("long-key", head + "  " + "k" * 100_000 + ":\n    image: docker.io/library/nginx:1.27\n")
# a billion laughs
lol = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
put("billion-laughs", lol + head + "  web: { image: docker.io/library/nginx:1.27 }\n")
# 5 000 services: more than a spec may hold (E333), refused before any rule or render runs
put("5000-services", head + "".join(f"  s{i}:\n    image: docker.io/library/nginx:1.27.3\n    ports: [{{ name: http, port: 80 }}]\n" for i in range(5000)))
# 20 services of 1 000 replicas: 20 000 systemd units asked for by 1 KB (E333)
put("20000-replicas", head + "".join(f"  s{i}:\n    image: docker.io/library/nginx:1.27.3\n    replicas: 1000\n" for i in range(20)))
# At the limits, valid: 1 000 services of the MISP web service's shape (env with secrets and
# references, two ports, a volume, a TLS secret and scratch mounts, health, resources), rendered
# under single-node and ha (2 000 containers), padded with env values towards 1 MB
svc = ("  s{i}:\n    image: docker.io/library/nginx:1.27.3\n"
       "    env: {{ FQDN: \"${{params.fqdn}}\", PW: \"${{secrets.pw}}\", NEXT: \"${{services.s{j}.host}}\", PAD: \"{pad}\" }}\n"
       "    ports: [{{ name: http, port: 80 }}, {{ name: https, port: 443 }}]\n"
       "    mounts: [{{ volume: data, path: /data }}, {{ secret: tls, path: /certs }}, {{ scratch: true, path: /tmp }}]\n"
       "    healthcheck: {{ http: {{ path: /, port: http }}, interval: 30s }}\n"
       "    resources: {{ cpu: \"0.5\", memory: 256Mi }}\n")
top = ("apiVersion: misp-gen/v1\nname: big\nparams: { fqdn: big.example.org }\n"
       "secrets:\n  pw: { generate: password }\n  tls: { generate: tls, hosts: [\"${params.fqdn}\"] }\n"
       "volumes:\n  data: { size: 1Gi, shared: true }\nservices:\n")
put("1000-services", top + "".join(svc.format(i=i, j=(i + 1) % 1000, pad="p" * 500) for i in range(1000)))
