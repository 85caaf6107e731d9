/** The status bar item: the active model and what the extension is doing. Click: select a model. */

import * as vscode from "vscode";
import { Commands } from "./constants";
import { type Activity, statusText } from "./progress";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private model: string | undefined;
  private activity: Activity = { kind: "idle" };
  private running = 0;
  private problem: string | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem("llamafile.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Llamafile";
    this.render();
    this.item.show();
  }

  setModel(title: string | undefined): void {
    this.model = title;
    this.render();
  }

  /** A problem that keeps the extension from working (no Python, server down), or undefined. */
  setProblem(problem: string | undefined): void {
    this.problem = problem;
    this.render();
  }

  begin(): void {
    this.running += 1;
    if (this.activity.kind === "idle") {
      this.activity = { kind: "waiting" };
    }
    this.render();
  }

  report(activity: Activity | undefined): void {
    if (activity !== undefined && this.running > 0) {
      this.activity = activity;
      this.render();
    }
  }

  end(): void {
    this.running = Math.max(0, this.running - 1);
    if (this.running === 0) {
      this.activity = { kind: "idle" };
    }
    this.render();
  }

  private render(): void {
    if (this.problem !== undefined) {
      this.item.text = "$(error) Llamafile";
      this.item.tooltip = `Llamafile: ${this.problem}\nClick to show the log.`;
      this.item.command = Commands.showLog;
      return;
    }
    this.item.text = statusText(this.model, this.activity);
    const state =
      this.activity.kind === "idle"
        ? "idle"
        : this.activity.kind === "generating"
          ? `generating: ${this.activity.tokens} tokens`
          : this.activity.kind === "starting"
            ? this.activity.detail
            : "waiting for the model";
    this.item.tooltip = `Llamafile model: ${this.model ?? "(unknown)"} (${state})\nClick to select the model.`;
    this.item.command = Commands.chooseModel;
  }

  dispose(): void {
    this.item.dispose();
  }
}
