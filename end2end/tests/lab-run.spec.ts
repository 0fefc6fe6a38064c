import { expect, test } from "@playwright/test";
import { LabPage } from "./fixtures/lab-page";

test("a small lab run from the page fills both result columns", async ({ page }) => {
  test.setTimeout(120_000);
  const lab = new LabPage(page);
  await lab.open();
  await lab.fault.selectOption("drop-connection-after-produce");
  await lab.count.fill("30");
  await lab.run.click();
  await expect(lab.column("plain")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  await expect(lab.column("idempotent")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  await expect(lab.figure("idempotent", "records")).toHaveText("30");
  await expect(lab.figure("idempotent", "duplicates")).toHaveText("0");
  await expect(lab.figure("plain", "sent")).toHaveText("30");
  await expect(lab.column("plain").getByTestId("histogram")).toBeVisible();
  await expect(page.getByTestId("lab-explanation")).toContainText("idempotent");
});
