// Types of vendor/uPlot.esm.js, which the console plugin serves from the uplot package (web/console.plugin.ts).
import uPlot from 'uplot';
export default uPlot;
