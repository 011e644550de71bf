import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { clock, credits, rate } from "../js/format.js";

describe("format", () => {
  it("shows the time as m:ss, and h:mm:ss from an hour on", () => {
    assert.deepEqual([0, 9, 60, 599, 3599, 3600, 3661, 36_000].map(clock), ["0:00", "0:09", "1:00", "9:59", "59:59", "1:00:00", "1:01:01", "10:00:00"]);
    assert.equal(clock(59.999), "0:59");
  });

  it("shows minor units as credits without float noise", () => {
    assert.deepEqual([0, 7, 199, 10_000, 123_456].map(credits), ["0.00", "0.07", "1.99", "100.00", "1234.56"]);
    assert.equal(credits(null), "–");
    assert.equal(rate(199), "1.99 credits/min");
  });
});
