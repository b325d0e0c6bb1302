"""Offscreen RGB, metric depth and segmentation of a scene camera, with intrinsics and extrinsics.

Rendering is headless: set ``MUJOCO_GL=egl`` (default here) or ``osmesa`` before MuJoCo creates a
context. Per-pixel segmentation is reported as MuJoCo body ids (-1 for the background).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from keyscaffold.geometry import intrinsics_from_fovy, mujoco_camera_to_world


@dataclass(frozen=True)
class CameraFrame:
    """One rendered view.

    Attributes:
        rgb: Shape: (H, W, 3), uint8.
        depth: Metric depth along the optical axis, shape: (H, W), float32 (m).
        segmentation: Body id per pixel, shape: (H, W), int32; -1 where nothing was hit.
        intrinsics: K, shape: (3, 3).
        cam_to_world: OpenCV-convention transform, shape: (4, 4).
    """

    rgb: np.ndarray
    depth: np.ndarray
    segmentation: np.ndarray
    intrinsics: np.ndarray
    cam_to_world: np.ndarray


class SceneRenderer:
    """Renders a named camera of a model; reuse one instance for many frames."""

    def __init__(
        self, model: mujoco.MjModel, width: int = 800, height: int = 800, quality: bool = True
    ) -> None:
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(
                f"render size {width}x{height} exceeds the model's offscreen buffer "
                f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}"
            )
        self.model = model
        self.width, self.height = width, height
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        self._options = mujoco.MjvOption()
        scene_flags = self._renderer.scene.flags
        scene_flags[mujoco.mjtRndFlag.mjRND_SHADOW] = quality
        scene_flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = quality
        self._quality = quality

    def close(self) -> None:
        """Release the GL context."""
        self._renderer.close()

    def rgb(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """RGB image, shape: (H, W, 3), uint8."""
        self._renderer.update_scene(data, camera=camera, scene_option=self._options)
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self._quality
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self._quality
        return self._renderer.render().copy()

    def frame(self, data: mujoco.MjData, camera: str) -> CameraFrame:
        """RGB, depth, segmentation and calibration of one camera view."""
        rgb = self.rgb(data, camera)
        self._renderer.enable_depth_rendering()
        self._renderer.update_scene(data, camera=camera, scene_option=self._options)
        depth = self._renderer.render().astype(np.float32)
        self._renderer.disable_depth_rendering()
        self._renderer.enable_segmentation_rendering()
        self._renderer.update_scene(data, camera=camera, scene_option=self._options)
        seg = self._renderer.render()
        self._renderer.disable_segmentation_rendering()
        geom_ids, obj_types = seg[..., 0], seg[..., 1]
        is_geom = (obj_types == int(mujoco.mjtObj.mjOBJ_GEOM)) & (geom_ids >= 0)
        bodies = np.full(geom_ids.shape, -1, dtype=np.int32)
        bodies[is_geom] = self.model.geom_bodyid[geom_ids[is_geom]]
        cam = data.camera(camera)
        fovy = float(self.model.camera(camera).fovy[0])
        return CameraFrame(
            rgb=rgb,
            depth=depth,
            segmentation=bodies,
            intrinsics=intrinsics_from_fovy(fovy, self.width, self.height),
            cam_to_world=mujoco_camera_to_world(cam.xpos, cam.xmat),
        )
