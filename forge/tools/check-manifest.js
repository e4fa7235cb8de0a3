#!/usr/bin/env node
// Check a Forge manifest.yml offline: the full validation of @forge/manifest, then the client-side
// linters of @forge/lint. `forge lint` runs the same linters together with a server-side check that
// needs a login and the network, so that check is left to `forge deploy`.
//
// Usage: node check-manifest.js [path/to/manifest.yml ...] (default: ./manifest.yml)
// Prints one line per finding, `level file:line message (reference)`, on stdout.
// Exit status: 0 without errors in any manifest (warnings are printed but allowed), 1 on any
// error or approval finding, 2 when the check itself fails to run.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const EXIT_CLEAN = 0;
const EXIT_FINDINGS = 1;
const EXIT_CRASH = 2;

// The linters read `manifest.yml` from the working directory, whatever path they are given.
const MANIFEST_NAME = 'manifest.yml';

// The swagger files PermissionLinter reads instead of downloading Atlassian's API descriptions
// (@forge/lint 6.3.1 reads them only when USE_LOCAL_SWAGGER and all six LOCAL_*_SWAGGER are set).
// Empty path lists are enough, because the app has no Forge function calling product APIs.
const LOCAL_SWAGGER_VARIABLES = [
  'LOCAL_JIRA_SWAGGER',
  'LOCAL_JSM_SWAGGER',
  'LOCAL_JSW_SWAGGER',
  'LOCAL_CONF_SWAGGER',
  'LOCAL_CONF_V2_SWAGGER',
  'LOCAL_BB_SWAGGER',
];

// @forge/lint 6.3.1 calls only getDeprecatedRuntimes() of the Forge CLI's Statsig client. Offline
// there is no such client, so this stub reports no deprecated runtime. A newer @forge/lint that
// calls other methods makes this check fail to run (exit 2) instead of passing silently.
const offlineStatsig = {
  getDeprecatedRuntimes: async () => undefined,
};

// Linter log lines (progress, not findings) go to stderr, so stdout holds only the findings.
const stderrLogger = {
  info: (message) => process.stderr.write(`${message}\n`),
};

function prepareOfflineEnvironment() {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'forge-manifest-check-'));
  const emptySwagger = path.join(scratch, 'empty-swagger.json');
  fs.writeFileSync(emptySwagger, JSON.stringify({ paths: {} }));
  process.env.USE_LOCAL_SWAGGER = '1';
  for (const variable of LOCAL_SWAGGER_VARIABLES) {
    process.env[variable] = emptySwagger;
  }
  // On Linux the linters' cache (the `conf` package) then writes here, not in the user's home.
  process.env.XDG_CONFIG_HOME = scratch;
  return scratch;
}

function findingsOfValidation(result, manifestLabel) {
  return (result.errors || []).map((error) => ({
    level: error.level,
    file: manifestLabel,
    line: error.line || 0,
    message: error.message,
    reference: error.reference,
  }));
}

function findingsOfLint(lintResults, manifestLabel) {
  const findings = [];
  for (const result of lintResults) {
    const file = result.file === MANIFEST_NAME ? manifestLabel : result.file;
    const groups = [
      ['error', result.errors],
      ['warning', result.warnings],
      ['approval', result.approvals],
    ];
    for (const [level, rules] of groups) {
      for (const rule of rules) {
        findings.push({ level, file, line: rule.line || 0, message: rule.message, reference: rule.reference });
      }
    }
  }
  return findings;
}

// The lint run repeats the full validation, so the same finding may come twice.
function uniqueFindings(findings) {
  const seen = new Set();
  return findings.filter((finding) => {
    const key = [finding.level, finding.file, finding.line, finding.message].join('\u0000');
    if (seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
}

function formatFinding(finding) {
  const message = String(finding.message).replace(/\s+/g, ' ').trim();
  const reference = finding.reference ? ` (${finding.reference})` : '';
  return `${finding.level} ${finding.file}:${finding.line} ${message}${reference}`;
}

// A mistake in the command line: reported without a stack trace.
class UsageError extends Error {}

function resolveManifest(manifestArgument, startDir) {
  const manifestPath = path.resolve(startDir, manifestArgument);
  if (path.basename(manifestPath) !== MANIFEST_NAME) {
    throw new UsageError(`${manifestArgument} is not named ${MANIFEST_NAME}; the Forge linters read only that name`);
  }
  if (!fs.existsSync(manifestPath)) {
    throw new UsageError(`${manifestArgument} not found; pass the path of the Forge app's manifest.yml`);
  }
  return manifestPath;
}

// Run both tools on one manifest. They read `manifest.yml` and the resource folders relative to
// the working directory, so this changes it to the manifest's folder.
async function checkManifest(manifestPath, manifestLabel) {
  const { validate } = require('@forge/manifest');
  const { lint } = require('@forge/lint');

  process.chdir(path.dirname(manifestPath));
  const validation = await validate(false, MANIFEST_NAME);
  const findings = findingsOfValidation(validation, manifestLabel);

  // Linting needs the parsed manifest. Without it, the validation findings already report why.
  const manifest = validation.manifestObject && validation.manifestObject.typedContent;
  if (manifest) {
    // No source files: the app has no Forge functions, and the browser code of ui/ calls no
    // product API that the linters could check offline.
    const lintResults = await lint([], manifest, 'production', stderrLogger, offlineStatsig, {
      linter: { mode: 'client-side' },
    });
    findings.push(...findingsOfLint(lintResults, manifestLabel));
  }
  return uniqueFindings(findings);
}

async function main() {
  const startDir = process.cwd();
  const manifestArguments = process.argv.length > 2 ? process.argv.slice(2) : [MANIFEST_NAME];
  const manifestPaths = manifestArguments.map((argument) => resolveManifest(argument, startDir));

  // Several manifests share one run because the first validation takes several seconds (it
  // compiles the JSON schema) and later ones reuse the compiled schema.
  const scratch = prepareOfflineEnvironment();
  let failures = 0;
  try {
    for (const manifestPath of manifestPaths) {
      const manifestLabel = path.relative(startDir, manifestPath) || MANIFEST_NAME;
      const findings = await checkManifest(manifestPath, manifestLabel);
      for (const finding of findings) {
        process.stdout.write(`${formatFinding(finding)}\n`);
      }
      const manifestWarnings = findings.filter((finding) => finding.level === 'warning').length;
      const manifestFailures = findings.length - manifestWarnings;
      process.stderr.write(
        `Forge manifest check of ${manifestLabel}: ${manifestFailures} error(s) or approval(s), `
          + `${manifestWarnings} warning(s)\n`,
      );
      failures += manifestFailures;
    }
  } finally {
    process.chdir(startDir);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return failures ? EXIT_FINDINGS : EXIT_CLEAN;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    const detail = error instanceof UsageError ? error.message : (error && error.stack) || String(error);
    process.stderr.write(`Forge manifest check failed to run: ${detail}\n`);
    process.exitCode = EXIT_CRASH;
  },
);
