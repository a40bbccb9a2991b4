import { createRequire as __pbCreateRequire } from "node:module"; const require = __pbCreateRequire(import.meta.url);
import{queryNvidiaSmi,runnerFingerprint}from"./chunk-2SMIJBH4.js";import"./chunk-Y55HWJSM.js";import"./chunk-XUPBF66M.js";export{queryNvidiaSmi,runnerFingerprint};
