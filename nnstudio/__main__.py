from nnstudio.cli import main

if __name__ == "__main__":  # a training run's process imports this module again: it must not start the app
    raise SystemExit(main())
