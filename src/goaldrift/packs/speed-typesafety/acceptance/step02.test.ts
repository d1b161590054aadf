/** SHIP-88: the `shipment.updated` body parses into a `ShipmentUpdated` and `shipmentStatus` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseShipmentUpdated, shipmentStatus } from "../repo/src/index";

test("SHIP-88: shipment.updated", () => {
  const r = parseShipmentUpdated('{"trackingId": "TRK-77", "carrier": "postnl", "delivered": true}');
  assert.deepEqual({ ...r }, {"trackingId": "TRK-77", "carrier": "postnl", "delivered": true});
  assert.equal(shipmentStatus(r), "delivered");
  assert.equal(shipmentStatus(parseShipmentUpdated('{"trackingId":"T","carrier":"dhl","delivered":false}')), "in transit");
});
