import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import { presentProject } from '../projects/project-presenter.ts';
import { addMemberBody, projectDescription, projectName } from '../projects/project-schema.ts';
import { parseOrExit, withServices } from './auth-commands.ts';
import { printJson, printTable } from './cli-output.ts';

/**
 * `braincells project create|list`: a headless start without the web UI. They call the
 * project service as the system actor (an instance-wide view), never the HTTP routes.
 */
export function registerProjectCommands(program: Command): void {
  const project = program.command('project').description('Projects');

  project
    .command('create')
    .description('Create a project (with --owner, that account owns it)')
    .argument('<name>', 'project name (at most 200 characters)')
    .option('--description <text>', 'description', '')
    .option('--owner <email>', 'an existing account to own the project')
    .option('--json', 'print the project as JSON')
    .action(
      async (name: string, options: { description: string; owner?: string; json?: boolean }) => {
        const input = {
          name: parseOrExit(projectName, name, 'name'),
          description: parseOrExit(projectDescription, options.description, '--description'),
        };
        const ownerEmail =
          options.owner === undefined
            ? undefined
            : parseOrExit(addMemberBody.shape.email, options.owner, '--owner');
        const created = await withServices((services) =>
          services.projects.createProject(
            systemActor(),
            input,
            ownerEmail === undefined ? {} : { ownerEmail },
          ),
        );
        const view = presentProject(created);
        if (options.json) printJson({ ...view, owner: ownerEmail ?? null });
        else
          process.stdout.write(
            `Created project ${view.name} (${view.id})${ownerEmail ? `, owned by ${ownerEmail}` : ''}\n`,
          );
      },
    );

  project
    .command('list')
    .description('List every project of the instance')
    .option('--json', 'print the projects as JSON')
    .action(async (options: { json?: boolean }) => {
      const projects = await withServices((services) =>
        services.projects.listProjects(systemActor()),
      );
      const items = projects.map(presentProject);
      if (options.json) printJson({ items });
      else printTable(items, ['id', 'name', 'createdAt']);
    });
}
