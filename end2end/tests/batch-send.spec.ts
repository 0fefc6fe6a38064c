import { expect, test } from "@playwright/test";
import { BatchPanel } from "./fixtures/batch-panel";
import { LabPage } from "./fixtures/lab-page";

test("sending 50 events in one batch delivers every one", async ({ page }) => {
  const lab = new LabPage(page);
  await lab.open();
  await lab.expectHydrated();
  const batch = new BatchPanel(page);
  await batch.send(50, { mode: "plain", sendMode: "sync" });
  await expect(batch.result).toContainText("50 of 50 delivered");
  await expect(batch.result).toContainText("0 failed");
});
