"""A spec of N services in the shape of the MISP web service, on standard output (benches/cli.sh).

Usage: python3 benches/synthetic_spec.py N
"""
import sys
n = int(sys.argv[1])
s = 'apiVersion: misp-gen/v1\nname: big\nparams: { fqdn: big.example.org }\nsecrets:\n  pw: { generate: password }\n  tls: { generate: tls, hosts: ["${params.fqdn}"] }\nvolumes:\n  data: { size: 1Gi, shared: true }\nservices:\n'
for i in range(n):
    s += (f'  svc{i}:\n    image: docker.io/library/nginx:1.27.3\n'
          f'    env: {{ FQDN: "${{params.fqdn}}", PW: "${{secrets.pw}}", NEXT: "${{services.svc{(i+1)%n}.host}}" }}\n'
          '    ports: [{ name: http, port: 80 }, { name: https, port: 443 }]\n'
          '    mounts: [{ volume: data, path: /data }, { secret: tls, path: /certs }, { scratch: true, path: /tmp }]\n'
          '    healthcheck: { http: { path: /, port: http }, interval: 30s }\n'
          '    resources: { cpu: "0.5", memory: 256Mi }\n')
print(s, end='')
