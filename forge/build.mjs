// Build the Custom UI resources that manifest.yml names (static/forge-portal, static/forge-agent)
// from ui/, bundling @forge/bridge for the browser with esbuild. Run `npm ci` first: the versions
// come from package-lock.json, so the same commit gives the same files.
//
// Each resource is the chat itself: ui/<page>/index.html, the bootstrap (ui/bootstrap.js with
// @forge/bridge) and a copy of the add-on's own chat scripts and style sheet from ../static, which
// the bootstrap loads in the order the add-on's panel page lists them.
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
const addonStatic = join(appDir, '..', 'static');
const ICON = join(addonStatic, 'chat.svg');
// The add-on's front-end files that the chat and settings pages load, copied into every resource.
const CHAT_FOLDERS = ['chat', 'workspace', 'admin'];
const CHAT_FILES = ['chat.css'];

for (const { page, output } of SURFACES) {
  const outDir = join(appDir, output);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  cpSync(join(uiDir, page), outDir, { recursive: true });
  copyFileSync(ICON, join(outDir, 'icon.svg'));
  for (const folder of CHAT_FOLDERS) {
    cpSync(join(addonStatic, folder), join(outDir, folder), { recursive: true });
  }
  for (const file of CHAT_FILES) {
    copyFileSync(join(addonStatic, file), join(outDir, file));
  }
  await build({
    entryPoints: [join(uiDir, 'bootstrap.js')],
    outfile: join(outDir, 'bootstrap.js'),
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
