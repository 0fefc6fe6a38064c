import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

test("a send with its own JSON value and a header shows the value's size and the header", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await send.giveRecord('{"amount": 12.5}', "trace-id: e2e-1");
  await send.send({ mode: "idempotent", sendMode: "async" });
  await expect(send.result.getByTestId("state")).toHaveText("OK");
  await expect(send.result.getByTestId("status-record")).toContainText("value 16 bytes");
  await expect(send.result.getByTestId("status-record")).toContainText("trace-id: e2e-1");
});

test("a value that is not JSON is named before anything is sent", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await send.giveRecord("{oops", "");
  await send.send();
  await expect(send.fieldError("value")).toContainText("not JSON");
  await expect(send.result).toHaveCount(0);
});
