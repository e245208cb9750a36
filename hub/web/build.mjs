// Builds the command center page into dist/ (served by the hub at /ui): the script bundled
// with Leaflet, the stylesheet with Leaflet's, and the Noto Sans SC font from @fontsource
// (only its woff2 files: every browser the page supports reads them). No CDN, no tiles.
import {build} from "esbuild";
import {copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync} from "node:fs";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
rmSync(dist, {recursive: true, force: true});
mkdirSync(join(dist, "fonts"), {recursive: true});

await build({
  entryPoints: {app: join(here, "src/app.js"), style: join(here, "src/style.css")},
  outdir: dist, bundle: true, format: "iife", target: ["chrome110", "firefox110"],
  minify: true, legalComments: "none", loader: {".png": "dataurl", ".svg": "dataurl"},
  logLevel: "warning",
});
copyFileSync(join(here, "src/index.html"), join(dist, "index.html"));

// Noto Sans SC, regular and bold: the @fontsource stylesheets cut the font into ~100
// unicode-range slices, so a browser fetches only the slices a page's text needs.
const pkg = join(here, "node_modules/@fontsource/noto-sans-sc");
let css = "";
for (const weight of ["400", "700"]) {
  const text = readFileSync(join(pkg, `${weight}.css`), "utf8")
    .replace(/,\s*url\([^)]*\.woff\) format\('woff'\)/g, "");
  for (const m of text.matchAll(/url\(\.\/files\/([^)]+\.woff2)\)/g)) {
    copyFileSync(join(pkg, "files", m[1]), join(dist, "fonts", m[1]));
  }
  css += text.replace(/url\(\.\/files\//g, "url(fonts/");
}
writeFileSync(join(dist, "fonts.css"), css);

// Swagger UI for /docs (OpenAPI 3.1, which FastAPI writes), served by the hub: no CDN.
const swagger = join(here, "node_modules/swagger-ui-dist");
mkdirSync(join(dist, "docs-assets"), {recursive: true});
for (const f of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]) {
  copyFileSync(join(swagger, f), join(dist, "docs-assets", f));
}
console.log("built", dist);
