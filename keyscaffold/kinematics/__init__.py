"""Robot kinematics in numpy alone, shared by the simulator's arm controller and the deployment
runtime: ``chain.SerialChain`` (forward kinematics and Jacobians of a chain of hinges) and ``ik``
(the damped-least-squares step). Nothing here imports MuJoCo or torch."""
