"""Operations: ``MLClient`` and its groups (models, environments, jobs, computes, online
endpoints and deployments). Orchestration only: specs are validated by the entities,
state is kept by the workspace, processes and images are run by the targets."""
