"""Start the local Jira site and the add-on, install the add-on into the site, print the URLs.

Development only: the add-on runs with ADDON_ENV=development (a per-checkout secret key in
instance/) and trusts only the local site's install keys.

With --forge, the add-on also serves as the Forge Remote of the app in forge/, which the local site
installs as well (its Forge host pages run the built Custom UI pages). The pages are built first
when forge/static lacks them or is older than their sources, which needs Node.js and npm.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

# The ports browsers refuse to load pages from (net::ERR_UNSAFE_PORT in Chromium): the "bad ports"
# of the Fetch Standard, https://fetch.spec.whatwg.org/#bad-port, as listed in 2024 (4190 and 6679
# were the last added). Chromium and Firefox implement this list.
BROWSER_BLOCKED_PORTS = frozenset({
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
    103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
    512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
    995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
    6669, 6679, 6697, 10080,
})


def port_from_environment(name, default):
    """Return the port in environment variable `name`, or exit naming the variable and the fix."""
    text = os.environ.get(name, str(default))
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        sys.exit(f"{name}={text!r} is not a port number; use a number from 1 to 65535, e.g. {default}.")
    port = int(text)
    if port in BROWSER_BLOCKED_PORTS:
        sys.exit(f"{name}={port} is a port that browsers refuse to open (Chromium shows "
                 f"ERR_UNSAFE_PORT); choose another, e.g. {default}.")
    return port


def wait_for(url, process, name, timeout_secs=30):
    deadline = time.monotonic() + timeout_secs
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited during start-up with code {process.returncode}; see its output above")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    sys.exit(f"{name} did not answer on {url} within {timeout_secs} s")


FORGE_DIR = ROOT_DIR / "forge"
BUILT_PAGES = [FORGE_DIR / "static" / name / "bootstrap.js" for name in ("forge-portal", "forge-agent")]


def forge_app_id():
    """Return the app id that forge/manifest.yml declares."""
    found = re.search(r"^  id: (ari:cloud:ecosystem::app/\S+)$", (FORGE_DIR / "manifest.yml").read_text(), re.M)
    if not found:
        sys.exit("forge/manifest.yml declares no app id (app.id); restore it from git.")
    return found.group(1)


def _newest_source_mtime():
    """Return the latest modification time of the Forge pages' sources: forge/ui and the copied static files."""
    sources = [FORGE_DIR / "build.mjs", FORGE_DIR / "package-lock.json", ROOT_DIR / "static" / "chat.css"]
    for folder in (FORGE_DIR / "ui", ROOT_DIR / "static" / "chat", ROOT_DIR / "static" / "workspace",
                   ROOT_DIR / "static" / "admin"):
        sources += [path for path in folder.rglob("*") if path.is_file()]
    return max(path.stat().st_mtime for path in sources if path.exists())


def build_forge_pages():
    """Build the Custom UI pages into forge/static when they are missing or older than their sources."""
    if all(path.is_file() for path in BUILT_PAGES) and \
            min(path.stat().st_mtime for path in BUILT_PAGES) >= _newest_source_mtime():
        return
    commands = [["npm", "run", "build"]]
    if not (FORGE_DIR / "node_modules").is_dir():
        commands.insert(0, ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"])
    print(f"Building the Forge pages (cd forge && {' && '.join(' '.join(c) for c in commands)})…", flush=True)
    try:
        for command in commands:
            subprocess.run(command, cwd=FORGE_DIR, check=True)
    except FileNotFoundError:
        sys.exit("--forge needs npm to build the Forge pages; install Node.js 20.18.1 or newer with npm.")
    except subprocess.CalledProcessError as error:
        sys.exit(f"Building the Forge pages failed ({' '.join(error.cmd)} exited with {error.returncode}); "
                 "see its output above.")


def main():
    parser = argparse.ArgumentParser(description="Run the local Jira site and the add-on on loopback.")
    parser.add_argument("--forge", action="store_true",
                        help="also install the add-on as the Forge Remote of the app in forge/")
    args = parser.parse_args()
    devsite_port = port_from_environment("DEVSITE_PORT", 2990)
    addon_port = port_from_environment("ADDON_PORT", 5000)
    site_url = f"http://{HOST}:{devsite_port}"
    addon_url = f"http://{HOST}:{addon_port}"

    addon_env = dict(os.environ)
    addon_env.update({
        "ADDON_ENV": "development",
        "ADDON_BASE_URL": addon_url,
        "CONNECT_INSTALL_KEYS_URL": f"{site_url}/_devsite/install-keys/",
        "CONNECT_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONNECT_ALL_JS_URL": f"{site_url}/_devsite/all.js",
        "CONNECT_OAUTH_TOKEN_URL": f"{site_url}/oauth2/token",
        "ADDON_FRAME_ANCESTORS": site_url,
    })
    if args.forge:
        build_forge_pages()
        addon_env.update({
            "FORGE_ENABLED": "true",
            "FORGE_APP_ID": forge_app_id(),
            "FORGE_JWKS_URL": f"{site_url}/forge/jwks.json",
            "FORGE_API_BASE_ALLOWED": site_url,
        })

    python = sys.executable
    site = subprocess.Popen([python, "-m", "devsite", "--host", HOST, "--port", str(devsite_port)], cwd=ROOT_DIR)
    addon = subprocess.Popen(
        [python, "-m", "flask", "--app", "app", "run", "--host", HOST, "--port", str(addon_port)],
        cwd=ROOT_DIR, env=addon_env,
    )
    processes = [site, addon]

    def stop(*_args):
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    wait_for(f"{site_url}/_devsite/health", site, "The local Jira site")
    wait_for(f"{addon_url}/atlassian-connect.json", addon, "The add-on")
    result = requests.post(
        f"{site_url}/_devsite/apps/install",
        json={"descriptor_url": f"{addon_url}/atlassian-connect.json"}, timeout=30,
    ).json()
    if result.get("status") not in (200, 204):
        print(f"Installing the add-on into the local Jira site failed: {result}", file=sys.stderr)
        stop()

    if args.forge:
        installed = requests.post(f"{site_url}/_devsite/forge/app/install", json={"remote_url": addon_url},
                                  timeout=60).json()
        if not all(call.get("status") == 200 for call in installed.get("lifecycle", [])):
            print(f"Installing the Forge app into the local Jira site failed: {installed}", file=sys.stderr)
            stop()

    login = f"{site_url}/login?as="
    print(f"""
Local Jira site : {site_url}
Add-on          : {addon_url} (installed, client_key {result.get('client_key')})

Customer portal (key user Alice Durand): {login}cust-alice&next=/servicedesk/customer/portal/1
Live chat dashboard (agent Camille):     {login}agent-camille&next=/jira/servicedesk/projects/SUP/apps/com.example.support-chat/chat-dashboard
Agent issue view (agent Camille):        {login}agent-camille&next=/browse/SUP-1
  (the chat panel shows only on requests opened by chat: start one from the portal, then open
   /browse/<its key> as an agent)
Admin page (Léa Petit, Jira admin):      {login}admin-lea&next=/plugins/servlet/ac/com.example.support-chat/chat-admin
  (customers refused the chat, like Bruno Leroy, see the support e-mail once it is set there,
   under "Réglages de la discussion")

Press Ctrl-C to stop both servers.
""", flush=True)
    if args.forge:
        print(f"""The same chat as a Forge app (the site's Forge host pages, the Custom UI pages in forge/static):
Customer portal (Alice):          {login}cust-alice&next=/_devsite/forge/host/portal
Live chat dashboard (Camille):    {login}agent-camille&next=/_devsite/forge/host/project/SUP
Agent issue view (Camille):       {login}agent-camille&next=/_devsite/forge/host/issue/SUP-1
  (as with Connect, the chat shows only on requests opened by chat: open /_devsite/forge/host/issue/<its key>)
Admin page (Léa):                 {login}admin-lea&next=/_devsite/forge/host/admin
""", flush=True)
    while all(process.poll() is None for process in processes):
        time.sleep(0.5)
    print("A server stopped; stopping the other one.", file=sys.stderr)
    stop()


if __name__ == "__main__":
    main()
