import { createRequire as __pbCreateRequire } from "node:module"; const require = __pbCreateRequire(import.meta.url);
import{queryNvidiaSmi,runnerFingerprint}from"./chunk-6NVTL6JJ.js";import"./chunk-WWX4QRFG.js";import"./chunk-XUPBF66M.js";export{queryNvidiaSmi,runnerFingerprint};
