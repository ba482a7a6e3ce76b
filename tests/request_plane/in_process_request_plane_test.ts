import { InProcessRequestPlane } from "../../mod.ts";
import { requestPlaneConformance } from "./request_plane_conformance.ts";

requestPlaneConformance("in-process", () => {
  const plane = new InProcessRequestPlane();
  return Promise.resolve({ server: plane, client: plane, close: () => plane.close() });
});
