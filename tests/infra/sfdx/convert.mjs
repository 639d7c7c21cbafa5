// node convert.mjs <project dir> <output dir>: convert the project's force-app to a metadata API package with
// Salesforce's source-deploy-retrieve (what `sf project convert source` runs); print the components as JSON.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ComponentSet, MetadataConverter } from '@salesforce/source-deploy-retrieve';

const [project, output] = process.argv.slice(2);
const config = JSON.parse(readFileSync(join(project, 'sfdx-project.json'), 'utf8'));
const set = ComponentSet.fromSource(join(project, config.packageDirectories[0].path));
set.sourceApiVersion = config.sourceApiVersion;
const components = set.getSourceComponents().toArray().map((c) => ({ type: c.type.name, fullName: c.fullName }));
const result = await new MetadataConverter().convert(set, 'metadata', {
  type: 'directory',
  outputDirectory: output,
  packageName: 'territory_router',
});
const packageXml = await set.getPackageXml();
console.log(JSON.stringify({ components, packagePath: result.packagePath, packageXml }));
