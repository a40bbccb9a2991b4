import { createRequire as __pbCreateRequire } from "node:module"; const require = __pbCreateRequire(import.meta.url);
import{queryNvidiaSmi,runnerFingerprint}from"./chunk-W5XHFQBC.js";import"./chunk-FZRKOXEM.js";import"./chunk-XUPBF66M.js";export{queryNvidiaSmi,runnerFingerprint};
