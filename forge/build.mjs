// Build the Custom UI resources that manifest.yml names (static/forge-portal, static/forge-agent)
// from ui/, bundling @forge/bridge for the browser with esbuild. Run `npm ci` first: the versions
// come from package-lock.json, so the same commit gives the same files.
import { build } from 'esbuild';
import { copyFileSync, cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const appDir = dirname(fileURLToPath(import.meta.url));
const uiDir = join(appDir, 'ui');

// Each page folder of ui/, and the resource folder (manifest.yml's resources[].path) it is built into.
const SURFACES = [
  { page: 'portal', output: 'static/forge-portal' },
  { page: 'agent', output: 'static/forge-agent' },
];

// The same icon as the Connect descriptor's, for modules that need one (jira:issuePanel).
const ICON = join(appDir, '..', 'static', 'chat.svg');

for (const { page, output } of SURFACES) {
  const outDir = join(appDir, output);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  cpSync(join(uiDir, page), outDir, { recursive: true });
  copyFileSync(join(uiDir, 'placeholder.css'), join(outDir, 'placeholder.css'));
  copyFileSync(ICON, join(outDir, 'icon.svg'));
  await build({
    entryPoints: [join(uiDir, 'placeholder.js')],
    outfile: join(outDir, 'placeholder.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  console.log(`built ${output}`);
}
