import { MemoryDiscovery, MemoryDiscoveryStore } from "../../src/entries/planes.ts";
import { discoveryConformance } from "./discovery_conformance.ts";

discoveryConformance("memory", () => {
  const store = new MemoryDiscoveryStore();
  return Promise.resolve({ connect: () => Promise.resolve(new MemoryDiscovery({ store })) });
});
