"""A spec of N services in the shape of the MISP web service, on standard output (benches/cli.sh).

With --compose, the same N services as a Compose file instead (image, environment, ports, volumes,
the secret's files, tmpfs, health check, limits, one network), the input of podlet in
benches/versus_podlet.sh: the competitor gets the stack misp-gen renders, field for field where
Compose has the field.

Usage: python3 benches/synthetic_spec.py N
       python3 benches/synthetic_spec.py --compose N
"""
import sys

HEALTH = ("curl -fsSk -o /dev/null 'http://127.0.0.1:80/' 2>/dev/null"
          " || wget -q -O /dev/null --no-check-certificate 'http://127.0.0.1:80/'")


def spec(n):
    s = 'apiVersion: misp-gen/v1\nname: big\nparams: { fqdn: big.example.org }\nsecrets:\n  pw: { generate: password }\n  tls: { generate: tls, hosts: ["${params.fqdn}"] }\nvolumes:\n  data: { size: 1Gi, shared: true }\nservices:\n'
    for i in range(n):
        s += (f'  svc{i}:\n    image: docker.io/library/nginx:1.27.3\n'
              f'    env: {{ FQDN: "${{params.fqdn}}", PW: "${{secrets.pw}}", NEXT: "${{services.svc{(i+1)%n}.host}}" }}\n'
              '    ports: [{ name: http, port: 80 }, { name: https, port: 443 }]\n'
              '    mounts: [{ volume: data, path: /data }, { secret: tls, path: /certs }, { scratch: true, path: /tmp }]\n'
              '    healthcheck: { http: { path: /, port: http }, interval: 30s }\n'
              '    resources: { cpu: "0.5", memory: 256Mi }\n')
    return s


def compose(n):
    # The password goes in an env_file and the TLS files are a read-only bind mount, as misp-gen
    # renders them (podlet takes only external Compose secrets); the capabilities are the ones
    # misp-gen's Quadlet files carry, so both tools write the same amount per service.
    # The labels are misp-gen's, and make podlet write a .volume file as misp-gen does.
    label = 'labels: { io.misp-gen.stack: big }'
    s = f'name: big\nnetworks:\n  big: {{ {label} }}\nvolumes:\n  data: {{ {label} }}\nservices:\n'
    for i in range(n):
        s += (f'  svc{i}:\n    image: docker.io/library/nginx:1.27.3\n'
              f'    container_name: big-svc{i}\n'
              f'    environment: {{ FQDN: big.example.org, NEXT: big-svc{(i+1)%n} }}\n'
              f'    env_file: [/etc/big/secrets/svc{i}.env]\n'
              '    expose: ["80", "443"]\n'
              '    volumes: ["data:/data", "/etc/big/secrets/tls:/certs:ro"]\n'
              '    tmpfs: [/tmp]\n'
              '    networks: [big]\n'
              f'    healthcheck: {{ test: [CMD-SHELL, "{HEALTH}"], interval: 30s, timeout: 5s, retries: 3 }}\n'
              '    cap_drop: [ALL]\n'
              '    cap_add: [CHOWN, DAC_OVERRIDE, FOWNER, KILL, NET_BIND_SERVICE, SETGID, SETUID]\n'
              '    security_opt: ["no-new-privileges:true"]\n'
              f'    {label}\n'
              '    cpus: 0.5\n    mem_limit: 256m\n    restart: unless-stopped\n')
    return s


def main(argv):
    make = spec
    if argv[:1] == ['--compose']:
        make, argv = compose, argv[1:]
    if len(argv) != 1 or not argv[0].isdigit() or int(argv[0]) < 1:
        sys.exit('usage: synthetic_spec.py [--compose] N   (N >= 1 services)')
    print(make(int(argv[0])), end='')


if __name__ == '__main__':
    main(sys.argv[1:])
