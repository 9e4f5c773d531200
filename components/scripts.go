package components

import (
	"strconv"
	"strings"

	"github.com/certctl-io/certctl-pulumi/config"
)

// The shell scripts the pods run. Both images (alpine) have /bin/sh and curl and nothing else
// worth relying on, so the scripts stick to POSIX sh, tr, grep, sed and head. Keys reach curl
// on standard input (--config -), never on its command line, where other processes could read them.

// The roles the server creates for its narrowed keys: the bootstrap token's (what
// POST /api/v1/agents needs, agent.edit, and what finding an agent by name needs, agent.read),
// and the scrape key's (GET /api/v1/metrics/prometheus needs metrics.read and nothing else).
const (
	agentRegistrarRole = "agent-registrar"
	metricsReaderRole  = "metrics-reader"
)

// accessScript runs in the server container after every start (postStart). certctl grants
// r-viewer to every non-admin named key each time it boots; this narrows the agents' key to
// r-agent, the bootstrap token to agent-registrar and, when the program provisions it (scrape),
// the scrape key to metrics-reader, with the admin key (the first entry of CERTCTL_AUTH_SECRET)
// the container already holds. It also removes the r-admin grant migration 000029 leaves to the
// demo actor, once per install (the migration never runs again). Kubernetes starts the
// readiness probe only after the hook, so no request reaches this replica before the grants are
// in place.
func accessScript(scrape bool, startupSeconds int) string {
	narrowScrape := ""
	if scrape {
		narrowScrape = `metrics=$(ensure_role @METRICS@ "Scrapes certctl metrics: the Prometheus key" metrics.read)
narrow @PROMETHEUS@ "$metrics"
echo "certctl access: @PROMETHEUS@ holds @METRICS@"
`
	}
	return strings.NewReplacer(
		"@REGISTRAR@", agentRegistrarRole,
		"@METRICS@", metricsReaderRole,
		"@AGENTS@", config.AgentsKeyName,
		"@BOOTSTRAP@", config.AgentBootstrapKeyName,
		"@PROMETHEUS@", config.PrometheusKeyName,
		"@DEMO@", demoActor,
		"@STARTUP@", strconv.Itoa(startupSeconds),
	).Replace(`set -eu
# The requests never leave the pod (loopback), so the server certificate is not checked (-k).
base="https://127.0.0.1:${CERTCTL_SERVER_PORT}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
call() { # METHOD PATH [curl args...]: prints the HTTP status; the body goes to $out
  m=$1 p=$2
  shift 2
  printf 'header = "Authorization: Bearer %s"\n' "${CERTCTL_AUTH_SECRET%%,*}" |
    curl -sS -k --config - -o "$out" -w '%{http_code}' -X "$m" -H 'Content-Type: application/json' "$@" "$base/api/v1$p" || true
}
expect() { # WHAT STATUS...: stop unless the last answer ($status) is one of the statuses
  what=$1
  shift
  for s in "$@"; do [ "$status" = "$s" ] && return 0; done
  echo "certctl access: $what answered $status: $(cat "$out")" >&2
  exit 1
}
role_id() { # NAME: the ID of the role called NAME, empty when there is none
  status=$(call GET /auth/roles)
  expect "listing roles" 200
  tr '{' '\n' <"$out" | grep -F "\"name\":\"$1\"" | sed -n 's/^"id":"\([^"]*\)".*/\1/p' | head -n 1
}
ensure_role() { # NAME DESCRIPTION PERMISSION...: create the role if missing, add what it lacks; print its ID
  name=$1 description=$2
  shift 2
  id=$(role_id "$name")
  if [ -z "$id" ]; then
    status=$(call POST /auth/roles --data "{\"name\":\"$name\",\"description\":\"$description\"}")
    expect "creating role $name" 201 409 # 409: another replica created it first
    id=$(role_id "$name")
  fi
  if [ -z "$id" ]; then echo "certctl access: role $name not found after creating it" >&2; exit 1; fi
  status=$(call GET "/auth/roles/$id")
  expect "reading role $name" 200
  granted=$(cat "$out")
  for perm in "$@"; do
    case $granted in *"\"name\":\"$perm\""*) continue ;; esac
    status=$(call POST "/auth/roles/$id/permissions" --data "{\"permission\":\"$perm\"}")
    expect "adding $perm to $name" 204
  done
  echo "$id"
}
holds() { # ACTOR ROLE: whether ACTOR holds ROLE (certctl stores a repeated grant twice)
  status=$(call GET /auth/keys)
  expect "listing keys" 200
  tr '{' '\n' <"$out" | grep -F "\"actor_id\":\"$1\"," | grep -qF "\"$2\""
}
narrow() { # ACTOR ROLE: grant ROLE, then revoke the r-viewer the server granted at boot
  if ! holds "$1" "$2"; then
    status=$(call POST "/auth/keys/$1/roles" --data "{\"role_id\":\"$2\"}")
    expect "granting $2 to $1" 204
  fi
  status=$(call DELETE "/auth/keys/$1/roles/r-viewer")
  expect "revoking r-viewer from $1" 204 404
}

i=0
until [ "$(curl -sk -o /dev/null -w '%{http_code}' "$base/ready" || true)" = 200 ]; do
  i=$((i + 1))
  if [ "$i" -gt @STARTUP@ ]; then echo "certctl access: the server was not ready after @STARTUP@s (server.startupTimeoutSeconds)" >&2; exit 1; fi
  sleep 1
done

# A failing ensure_role stops the script here: set -e applies to an assignment's substitution.
registrar=$(ensure_role @REGISTRAR@ "Registers certctl agents: the agent bootstrap token" agent.edit agent.read)
narrow @BOOTSTRAP@ "$registrar"
narrow @AGENTS@ r-agent
echo "certctl access: @AGENTS@ holds r-agent, @BOOTSTRAP@ holds @REGISTRAR@"
` + narrowScrape + `if holds @DEMO@ r-admin; then
  status=$(call POST /auth/demo-residual/cleanup)
  expect "removing the demo actor's grants" 200
  echo "certctl access: removed the r-admin grant migration 000029 gives @DEMO@"
fi
`)
}

// demoActor is the synthetic admin certctl serves unauthenticated requests as in demo mode;
// migration 000029 grants it r-admin in every install.
const demoActor = "actor-demo-anon"

// registerScript runs in the agent's init container. The agent binary needs an ID and never
// registers itself; the server assigns the ID at POST /api/v1/agents and refuses a name twice
// (409), so a restarted agent finds its ID by its stable name instead. The ID is handed to the
// agent container through a file in a pod-lifetime volume.
func registerScript(idFile string) string {
	return strings.ReplaceAll(`set -eu
api="${CERTCTL_SERVER_URL}/api/v1/agents"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
call() { # METHOD URL [curl args...]: prints the HTTP status (000: no answer); the body goes to $out
  m=$1 u=$2
  shift 2
  printf 'header = "Authorization: Bearer %s"\n' "$CERTCTL_AGENT_BOOTSTRAP_TOKEN" |
    curl -sS --cacert "$CERTCTL_SERVER_CA_BUNDLE_PATH" --config - -o "$out" -w '%{http_code}' -X "$m" "$@" "$u" || true
}
find_id() { # the ID registered under this name, page by page
  page=1
  while :; do
    [ "$(call GET "$api?page=$page&per_page=500")" = 200 ] || return 1
    id=$(tr '{' '\n' <"$out" | grep -F "\"name\":\"$CERTCTL_AGENT_NAME\"," | sed -n 's/^"id":"\([^"]*\)".*/\1/p' | head -n 1)
    if [ -n "$id" ]; then echo "$id"; return 0; fi
    total=$(sed -n 's/.*"total":\([0-9]*\).*/\1/p' "$out")
    [ "$((page * 500))" -lt "${total:-0}" ] || return 1
    page=$((page + 1))
  done
}

body="{\"name\":\"$CERTCTL_AGENT_NAME\",\"hostname\":\"$CERTCTL_AGENT_NAME\"}"
i=0
id=""
while [ -z "$id" ]; do
  status=$(call POST "$api" -H 'Content-Type: application/json' --data "$body")
  case $status in
  201) id=$(sed -n 's/^{"id":"\([^"]*\)".*/\1/p' "$out") ;;
  409) id=$(find_id) || id="" ;;
  esac
  if [ -z "$id" ]; then
    i=$((i + 1))
    if [ "$i" -gt 150 ]; then
      echo "registering agent $CERTCTL_AGENT_NAME: last answer $status: $(cat "$out") (a 409 for a name the agent list does not show is a retired agent: a retired name cannot register again)" >&2
      exit 1
    fi
    sleep 2
  fi
done
printf '%s\n' "$id" >"@ID@.tmp"
mv "@ID@.tmp" "@ID@"
echo "agent $CERTCTL_AGENT_NAME is $id"
`, "@ID@", idFile)
}

// agentCommand starts the agent with the ID the init container wrote; /app/agent is the
// image's entrypoint.
func agentCommand(idFile string) []string {
	return []string{"/bin/sh", "-c", "read -r CERTCTL_AGENT_ID <" + idFile + " && export CERTCTL_AGENT_ID && exec /app/agent"}
}
